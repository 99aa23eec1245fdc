"""CLINC150 (Larson et al., EMNLP 2019, CC BY 3.0) through our retrieval layer.

The project's MiniLM embeddings and FAISS index used as a general intent
engine: every train utterance is a phrasing of its intent. Each scoring
variant's knobs and answer threshold are chosen on val + oos_val only (best
mean of in-scope accuracy and out-of-scope recall); test and oos_test are
scored once. Embeddings are cached under var/bench/.
Usage: python -m bench.clinc [DATA_JSON]
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import numpy as np

from bench.clinc_hybrid import ALPHAS, HybridFeatures, fit_hybrid
from bench.clinc_scoring import (
    OOS,
    Scorer,
    best_and_margin,
    centroids,
    choose_threshold,
    choose_two_thresholds,
    class_topk_mean,
    evaluate,
    mahalanobis,
    pick,
    tradeoff_curve,
)
from bench.results import VAR, save
from knowledge.embedder import Embedder
from knowledge.index import EntryIndex
from travelbot.settings import ROOT

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "clinc150-data_full.json"
SPLITS = ("train", "oos_train", "val", "oos_val", "test", "oos_test")
PLOT = "clinc_tradeoff.png"
# Larson et al. 2019, Table 2 (full data set): in-scope accuracy / OOS recall.
PAPER = {
    "BERT, oos-train": (96.9, 40.3),
    "BERT, oos-threshold": (96.2, 52.3),
    "Rasa, oos-train": (91.5, 45.3),
    "Rasa, oos-threshold": (90.9, 31.2),
}
TOPK = (3, 5, 10, 20)
MAHALANOBIS = "Mahalanobis distance to the class means (shared covariance)"
LOGREG_C = (1.0, 4.0, 16.0)

Embedded = Dict[str, Tuple[np.ndarray, List[str]]]  # split -> (vectors, intent names)
Split = Tuple[Any, np.ndarray]  # (vectors or feature rows, labels with OOS = -1)


def embeddings(data_path: Path, embedder: Embedder) -> Embedded:
    data = json.loads(data_path.read_text(encoding="utf-8"))
    key = hashlib.sha256(data_path.read_bytes() + embedder.fingerprint().encode()).hexdigest()[:16]
    cache = VAR / f"clinc-embeddings-{key}.npz"
    if not cache.exists():
        VAR.mkdir(parents=True, exist_ok=True)
        arrays = {}
        for split in SPLITS:
            print(f"embedding {split} ({len(data[split])})", flush=True)
            arrays[split] = embedder.encode([t for t, _ in data[split]], batch_size=128)
        np.savez(cache, **arrays)
    with np.load(cache) as saved:
        return {s: (saved[s], [intent for _, intent in data[s]]) for s in SPLITS}


def labelled(parts: Sequence[Tuple[np.ndarray, List[str]]], classes: Dict[str, int]) -> Split:
    vectors = np.vstack([p[0] for p in parts]).astype(np.float32)
    labels = np.array([classes.get(i, OOS) for p in parts for i in p[1]])
    return vectors, labels


def similarity_scorer(train: Split, n_classes: int, k: int) -> Scorer:
    def scorer(queries: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        return best_and_margin(class_topk_mean(queries @ train[0].T, train[1], n_classes, k))

    return scorer


def engine_1nn(train: Split) -> Scorer:
    """The project's own EntryIndex (FAISS flat inner product, best row per entry)."""
    index = EntryIndex(train[0], [str(c) for c in train[1]])

    def scorer(queries: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        pred, conf, margin = [], [], []
        for q in queries:
            found = index.search(q, k=40)
            pred.append(int(found[0].entry_id))
            conf.append(found[0].score)
            margin.append(found[0].score - (found[1].score if len(found) > 1 else 0.0))
        return np.array(pred), np.array(conf), np.array(margin)

    return scorer


def logreg_scorer(vectors: np.ndarray, labels: np.ndarray, c: float) -> Scorer:
    """Logistic regression over embeddings; with OOS examples, OOS is one more class."""
    from sklearn.linear_model import LogisticRegression

    target = np.where(labels == OOS, labels.max() + 1, labels)
    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(vectors, target)
    oos_class = int(target.max()) if (labels == OOS).any() else None

    def scorer(queries: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        probs = model.predict_proba(queries)
        pred, conf, margin = best_and_margin(probs)
        pred = model.classes_[pred]
        if oos_class is not None:
            conf = np.where(pred == oos_class, -np.inf, conf)
            pred = np.where(pred == oos_class, OOS, pred)
        return pred, conf, margin

    return scorer


def variant(name: str, rule: str, scorer: Scorer, val: Split, test: Split, two: bool = False) -> Dict:
    started = time.perf_counter()
    vp, vc, vm = scorer(val[0])
    if two:
        (t, m), val_outcome = choose_two_thresholds(vp, vc, vm, val[1])
    else:
        t, val_outcome = choose_threshold(vp, vc if rule != "margin" else vm, val[1])
        m = None
    tp, tc, tm = scorer(test[0])
    seconds = time.perf_counter() - started
    answered = tc >= t if rule != "margin" else tm >= t
    if m is not None:
        answered &= tm >= m
    out = evaluate(tp, answered, test[1])
    print(f"{name}: test in-scope {out.in_accuracy:.1%}, oos recall {out.oos_recall:.1%}", flush=True)
    return {
        "name": name,
        "threshold": t,
        "margin_threshold": m,
        "val": [val_outcome.in_accuracy, val_outcome.oos_recall],
        "test": [out.in_accuracy, out.oos_recall],
        "curve": tradeoff_curve(tp, tc if rule != "margin" else tm, test[1]) if not two else None,
        "seconds": seconds,
    }


Texts = Tuple[List[str], Split]  # a split's texts, with their vectors and labels


def hybrid_variant(data_path: Path, emb: Embedded, classes: Dict[str, int]) -> Dict:
    """MiniLM next to word and character TF-IDF, one linear model, OOS a class (alpha chosen on val)."""
    data = json.loads(data_path.read_text(encoding="utf-8"))

    def rows(*splits: str) -> Texts:
        return [t for s in splits for t, _ in data[s]], labelled([emb[s] for s in splits], classes)

    return hybrid_on("MiniLM", rows("train", "oos_train"), rows("val", "oos_val"), rows("test", "oos_test"))


def hybrid_on(encoder: str, train: Texts, val: Texts, test: Texts) -> Dict:
    """The hybrid row for any encoder's vectors (frozen MiniLM here, the fine-tuned one in clinc_finetune)."""
    features = HybridFeatures(train[0])
    fitted = features(train[0], train[1][0])
    val_x: Split = (features(val[0], val[1][0]), val[1][1])
    test_x: Split = (features(test[0], test[1][0]), test[1][1])
    fits = {alpha: fit_hybrid(fitted, train[1][1], alpha) for alpha in ALPHAS}
    scored = [(a, choose_threshold(*fits[a](val_x[0])[:2], val_x[1])[1]) for a in ALPHAS]
    alpha = float(pick(scored)[0])  # type: ignore[arg-type]
    title = f"{encoder} + word and char TF-IDF, train + oos_train, OOS a class (alpha={alpha:g} on val)"
    return variant(title, "score", fits[alpha], val_x, test_x)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    data_path = Path(args[0]) if args else DEFAULT_DATA
    emb = embeddings(data_path, Embedder())
    names = sorted(set(emb["train"][1]))
    classes = {name: i for i, name in enumerate(names)}
    train = labelled([emb["train"]], classes)
    val = labelled([emb["val"], emb["oos_val"]], classes)
    test = labelled([emb["test"], emb["oos_test"]], classes)
    n = len(names)
    results: List[Dict] = [variant("1-NN, our EntryIndex (FAISS)", "score", engine_1nn(train), val, test)]

    def chosen(options: Mapping[Any, Scorer], rule: str) -> Tuple[Any, Scorer]:
        scored = []
        for key, scorer in options.items():
            pred, conf, margin = scorer(val[0])
            scored.append((key, choose_threshold(pred, conf if rule == "score" else margin, val[1])[1]))
        key, _ = pick(scored)
        return key, options[key]

    sims = {k: similarity_scorer(train, n, k) for k in TOPK}
    k, topk = chosen(sims, "score")
    results.append(variant(f"mean of top-{k} per class (k on val)", "score", topk, val, test))
    k_m, topk_m = chosen(sims, "margin")
    results.append(variant(f"margin, best - second class (top-{k_m} mean)", "margin", topk_m, val, test))
    results.append(variant(f"score and margin (top-{k} mean)", "score", topk, val, test, two=True))
    cent = centroids(*train, n)
    results.append(variant("class centroid", "score", lambda q: best_and_margin(q @ cent.T), val, test))
    results.append(variant(MAHALANOBIS, "score", mahalanobis(*train, n), val, test))
    with_oos = labelled([emb["train"], emb["oos_train"]], classes)
    for title, data in (("train + oos_train, OOS a class", with_oos), ("train only", train)):
        fits = {c: logreg_scorer(*data, c) for c in LOGREG_C}
        c, scorer = chosen(fits, "score")
        results.append(variant(f"logistic regression, {title} (C={c} on val)", "score", scorer, val, test))
    results.append(hybrid_variant(data_path, emb, classes))

    save("clinc", {"data": str(data_path), "classes": n, "paper": PAPER, "plot": PLOT, "variants": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
