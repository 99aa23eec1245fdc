"""Ways to turn query-to-utterance similarities into an intent or "out of scope".

Every scorer gives, per query, a predicted class and a confidence; a query is
answered when its confidence reaches a threshold. Out-of-scope queries carry
the label -1 and are handled correctly when they are not answered.
Thresholds (and any other knob) are chosen on validation data only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, List, Sequence, Tuple

import numpy as np

OOS = -1
# Query rows (embeddings, or sparse feature rows) -> predicted class, confidence, margin.
Scorer = Callable[[Any], Tuple[np.ndarray, np.ndarray, np.ndarray]]


def class_topk_mean(sims: np.ndarray, labels: np.ndarray, n_classes: int, k: int) -> np.ndarray:
    """(queries, classes): mean of each class's k highest similarities (k=1 is 1-NN).

    A class with fewer than k examples is averaged over the ones it has.
    """
    out = np.full((sims.shape[0], n_classes), -np.inf, dtype=np.float32)
    for c in range(n_classes):
        cols = np.flatnonzero(labels == c)
        if not len(cols):
            continue
        part = sims[:, cols]
        kk = min(k, len(cols))
        top = np.partition(part, len(cols) - kk, axis=1)[:, len(cols) - kk :]
        out[:, c] = top.mean(axis=1)
    return out


def centroids(vectors: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Unit-length mean vector of each class."""
    means = np.stack([vectors[labels == c].mean(axis=0) for c in range(n_classes)])
    return (means / np.linalg.norm(means, axis=1, keepdims=True)).astype(np.float32)


def mahalanobis(vectors: np.ndarray, labels: np.ndarray, n_classes: int) -> Scorer:
    """Minus the squared Mahalanobis distance to each class mean, one covariance shared by all classes.

    The distance-based detector of Podolskiy et al. (AAAI 2021), the best out-of-domain score they found for
    transformer encoders: a query far from every class mean, in the directions the classes vary little,
    is out of scope. Fitted on the in-scope rows only.
    """
    inside = labels != OOS
    rows, owner = vectors[inside].astype(np.float64), labels[inside]
    means = np.stack([rows[owner == c].mean(axis=0) for c in range(n_classes)])
    spread = rows - means[owner]
    precision = np.linalg.pinv(spread.T @ spread / len(rows))
    cross = means @ precision
    own = (cross * means).sum(axis=1)

    def scorer(queries: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        q = queries.astype(np.float64)
        # (q - m)' P (q - m) = q'Pq - 2 q'Pm + m'Pm, for every class mean m at once
        distance = ((q @ precision) * q).sum(axis=1)[:, None] - 2 * q @ cross.T + own[None, :]
        return best_and_margin(-distance)

    return scorer


def best_and_margin(class_scores: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predicted class, its score, and its lead over the second-best class."""
    order = np.argsort(-class_scores, axis=1)
    rows = np.arange(len(class_scores))
    best = class_scores[rows, order[:, 0]]
    second = class_scores[rows, order[:, 1]] if class_scores.shape[1] > 1 else np.zeros_like(best)
    return order[:, 0], best, best - second


@dataclass(frozen=True)
class Outcome:
    in_accuracy: float  # in-scope queries answered with the right class
    oos_recall: float  # out-of-scope queries not answered

    @property
    def balanced(self) -> float:
        return (self.in_accuracy + self.oos_recall) / 2


def evaluate(pred: np.ndarray, answered: np.ndarray, truth: np.ndarray) -> Outcome:
    inside = truth != OOS
    acc = float(np.mean(answered[inside] & (pred[inside] == truth[inside]))) if inside.any() else 0.0
    recall = float(np.mean(~answered[~inside])) if (~inside).any() else 0.0
    return Outcome(acc, recall)


def candidate_thresholds(values: np.ndarray, count: int = 400) -> np.ndarray:
    """Quantiles of the finite confidences, plus one above them all (answer nothing)."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return np.array([np.inf])
    qs = np.unique(np.quantile(finite, np.linspace(0, 1, count)))
    return np.append(qs, np.inf)


def choose_threshold(pred: np.ndarray, conf: np.ndarray, truth: np.ndarray) -> Tuple[float, Outcome]:
    """The threshold with the best balanced outcome (ties: the lower threshold)."""
    best: Tuple[float, Outcome] | None = None
    for t in candidate_thresholds(conf):
        outcome = evaluate(pred, conf >= t, truth)
        if best is None or outcome.balanced > best[1].balanced:
            best = (float(t), outcome)
    assert best is not None
    return best


def choose_two_thresholds(
    pred: np.ndarray, conf: np.ndarray, margin: np.ndarray, truth: np.ndarray, count: int = 60
) -> Tuple[Tuple[float, float], Outcome]:
    """Answer only when both the score and the margin reach their thresholds."""
    best: Tuple[Tuple[float, float], Outcome] | None = None
    for t in candidate_thresholds(conf, count):
        for m in candidate_thresholds(margin, count):
            outcome = evaluate(pred, (conf >= t) & (margin >= m), truth)
            if best is None or outcome.balanced > best[1].balanced:
                best = ((float(t), float(m)), outcome)
    assert best is not None
    return best


def tradeoff_curve(pred: np.ndarray, conf: np.ndarray, truth: np.ndarray) -> List[Tuple[float, float]]:
    """(in-scope accuracy, oos recall) as the threshold moves, for plotting."""
    return [
        (o.in_accuracy, o.oos_recall)
        for o in (evaluate(pred, conf >= t, truth) for t in candidate_thresholds(conf, 200))
    ]


def pick(options: Iterable[Tuple[object, Outcome]]) -> Tuple[object, Outcome]:
    """The option whose validation outcome is best balanced (first one on ties)."""
    chosen: Sequence[Tuple[object, Outcome]] = list(options)
    return max(chosen, key=lambda o: o[1].balanced)
