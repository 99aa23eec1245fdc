"""Scoring one system's answers on the dev set, the same way for every system.

A system either answers with one entry or gives no answer (clarify, handoff,
decline, or a score under its threshold). Only an answer with an expected
entry is correct; an answer with any other entry, or any answer to an
out-of-scope line, is a wrong confident answer.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

NO_ANSWER = "no_answer"


@dataclass(frozen=True)
class DevRow:
    question: str
    expect: Tuple[str, ...]  # expected entry ids; empty for an out-of-scope line
    kind: str = ""  # out-of-scope kind ("sensitive", "off_topic", ...)

    @property
    def in_scope(self) -> bool:
        return bool(self.expect)


def load_dev(path: Path) -> List[DevRow]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        data = json.loads(line)
        if data["expect"] == NO_ANSWER:
            rows.append(DevRow(data["q"], (), data.get("kind", "other")))
        else:
            rows.append(DevRow(data["q"], tuple(data["expect"])))
    return rows


@dataclass(frozen=True)
class Prediction:
    """A system's best entry and its score; `answered` once its own rule applied."""

    entry_id: Optional[str]
    score: float
    answered: bool
    latency_ms: float = 0.0
    decision: str = ""  # the full system's decision name, when it has one


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


@dataclass
class Metrics:
    in_total: int = 0
    in_correct: int = 0
    skipped_not_in_corpus: int = 0
    wrong: int = 0
    total: int = 0
    oos_total: Dict[str, int] = field(default_factory=dict)
    oos_no_answer: Dict[str, int] = field(default_factory=dict)
    decisions: Dict[str, int] = field(default_factory=dict)
    p50_ms: float = 0.0
    p95_ms: float = 0.0

    @property
    def in_accuracy(self) -> float:
        return self.in_correct / self.in_total if self.in_total else 0.0

    @property
    def oos_recall(self) -> float:
        total = sum(self.oos_total.values())
        return sum(self.oos_no_answer.values()) / total if total else 0.0

    @property
    def wrong_rate(self) -> float:
        return self.wrong / self.total if self.total else 0.0

    def to_json(self) -> Dict[str, object]:
        return {
            "in_total": self.in_total,
            "in_correct": self.in_correct,
            "in_accuracy": self.in_accuracy,
            "skipped_not_in_corpus": self.skipped_not_in_corpus,
            "wrong": self.wrong,
            "total": self.total,
            "wrong_rate": self.wrong_rate,
            "oos_recall": self.oos_recall,
            "oos_total": self.oos_total,
            "oos_no_answer": self.oos_no_answer,
            "decisions": self.decisions,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
        }


def score(rows: Sequence[DevRow], predictions: Sequence[Prediction], known: Set[str]) -> Metrics:
    """Metrics for one system; in-scope lines none of whose entries exist are skipped."""
    if len(rows) != len(predictions):
        raise ValueError("one prediction per dev row is required")
    m = Metrics()
    for row, pred in zip(rows, predictions, strict=True):
        if row.in_scope and not any(e in known for e in row.expect):
            m.skipped_not_in_corpus += 1
            continue
        m.total += 1
        if not row.in_scope:
            m.oos_total[row.kind] = m.oos_total.get(row.kind, 0) + 1
            m.oos_no_answer[row.kind] = m.oos_no_answer.get(row.kind, 0) + (not pred.answered)
            m.wrong += pred.answered
            continue
        m.in_total += 1
        correct = pred.answered and pred.entry_id in row.expect
        m.in_correct += correct
        m.wrong += pred.answered and not correct
        if pred.decision:
            m.decisions[pred.decision] = m.decisions.get(pred.decision, 0) + 1
    latencies = [p.latency_ms for p in predictions]
    if latencies:
        m.p50_ms = statistics.median(latencies)
        m.p95_ms = percentile(latencies, 95)
    return m


def with_threshold(predictions: Iterable[Prediction], threshold: float) -> List[Prediction]:
    """Answer exactly when the best entry's score reaches the threshold."""
    return [
        Prediction(p.entry_id, p.score, p.entry_id is not None and p.score >= threshold, p.latency_ms)
        for p in predictions
    ]


@dataclass(frozen=True)
class SweepPoint:
    threshold: float
    in_accuracy: float
    oos_recall: float
    wrong_rate: float

    @property
    def balanced(self) -> float:
        """Equal weight to answering in-scope lines right and not answering the rest."""
        return (self.in_accuracy + self.oos_recall) / 2


def sweep(rows: Sequence[DevRow], ranked: Sequence[Prediction], known: Set[str]) -> List[SweepPoint]:
    """One point per distinct score (plus 'answer nothing'), lowest threshold first."""
    candidates = sorted({p.score for p in ranked if p.entry_id is not None})
    candidates.append(float("inf"))
    points = []
    for t in candidates:
        m = score(rows, with_threshold(ranked, t), known)
        points.append(SweepPoint(t, m.in_accuracy, m.oos_recall, m.wrong_rate))
    return points


def best_balanced(points: Sequence[SweepPoint]) -> SweepPoint:
    """The threshold with the best balanced score; ties go to the higher threshold (fewer answers)."""
    return max(points, key=lambda p: (round(p.balanced, 12), p.threshold))


def cross_fitted(
    rows: Sequence[DevRow], ranked: Sequence[Prediction], known: Set[str], folds: int = 2
) -> List[Prediction]:
    """Each line answered with the threshold that was best on the *other* folds.

    An honest counterpart of `best_balanced`, which picks its threshold on the
    very lines it is then scored on.
    """
    out: List[Optional[Prediction]] = [None] * len(rows)
    for fold in range(folds):
        train = [i for i in range(len(rows)) if i % folds != fold]
        t = best_balanced(sweep([rows[i] for i in train], [ranked[i] for i in train], known)).threshold
        for i in range(fold, len(rows), folds):
            out[i] = with_threshold([ranked[i]], t)[0]
    return [p for p in out if p is not None]
