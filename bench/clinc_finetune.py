"""CLINC150 with MiniLM fine-tuned on CPU: does training the encoder reach issue 8's goal?

Why: frozen MiniLM embeddings (bench/clinc.py) stop near 92 % in-scope accuracy and
88 % out-of-scope recall, and issue 8 asks for >= 95 % and >= 90 % together. Here the
project's own all-MiniLM-L6-v2 is fine-tuned with a linear head over its mean-pooled
output (cross-entropy; train + oos_train, OOS one more class), on one CPU thread, in
minutes. The tuned model is then scored several ways (max softmax, max logit, energy,
and logistic regression or class centroids on the tuned embeddings); every variant's
threshold and knob is chosen on val + oos_val only, and test + oos_test are scored once.
The model's outputs are cached under var/bench/, keyed by data, weights and TuneConfig (not by
this code: delete the cache after changing training); --save also keeps the tuned weights.
Usage: nice -n 19 python -m bench.clinc_finetune [DATA_JSON] [--epochs N] [--lr X] [--batch B]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from bench.clinc import DEFAULT_DATA, MAHALANOBIS, Scorer, Split, hybrid_on, logreg_scorer, variant
from bench.clinc_scoring import OOS, Outcome, best_and_margin, centroids, choose_threshold, mahalanobis, pick
from bench.results import VAR, save

RULES = ("softmax", "max_logit", "energy")  # ways to score an in-scope class from the head's logits
LOGREG_C = (1.0, 4.0, 16.0)
GOAL = (0.95, 0.90)  # issue 8: test in-scope accuracy and oos_test recall, at the same time


@dataclass(frozen=True)
class TuneConfig:
    epochs: int = 3
    lr: float = 1e-4  # AdamW, encoder and head alike; linear warm-up then linear decay
    batch_size: int = 32
    max_seq_length: int = 32  # CLINC utterances are about 13 tokens; the longest fit
    warmup: float = 0.1  # fraction of the steps
    weight_decay: float = 0.01
    seed: int = 0
    threads: int = 1  # leave the other core to whatever else runs on the machine


@dataclass
class Tuned:
    """A fine-tuned encoder and its head; the head has one more output when OOS was a class."""

    model: Any  # sentence_transformers.SentenceTransformer
    head: torch.nn.Linear
    n_classes: int  # in-scope classes (0 .. n_classes - 1)
    epoch_losses: List[float] = field(default_factory=list)
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0

    def outputs(self, texts: Sequence[str], batch_size: int = 128) -> Tuple[np.ndarray, np.ndarray]:
        """(logits, unit-length embeddings) for texts, batched by length for speed."""
        self.model.eval()
        order = np.argsort([len(t) for t in texts], kind="stable")
        logits = np.zeros((len(texts), self.head.out_features), dtype=np.float32)
        vectors = np.zeros((len(texts), self.head.in_features), dtype=np.float32)
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                rows = order[start : start + batch_size]
                pooled = _pooled(self.model, [texts[i] for i in rows])
                logits[rows] = self.head(pooled).numpy()
                vectors[rows] = torch.nn.functional.normalize(pooled, dim=1).numpy()
        return logits, vectors


def _pooled(model: Any, texts: Sequence[str]) -> torch.Tensor:
    """Mean-pooled token embeddings (the model's Transformer and Pooling modules, before Normalize)."""
    features = model.preprocess(list(texts))
    return model[1](model[0](features))["sentence_embedding"]


def _batches(lengths: np.ndarray, size: int, rng: np.random.Generator) -> List[np.ndarray]:
    """Shuffled batches of rows of similar length (less padding), in a shuffled order."""
    perm = rng.permutation(len(lengths))
    pool = size * 50
    batches: List[np.ndarray] = []
    for start in range(0, len(perm), pool):
        chunk = perm[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + size] for i in range(0, len(chunk), size))
    return [batches[i] for i in rng.permutation(len(batches))]


def fine_tune(
    texts: Sequence[str],
    labels: np.ndarray,
    n_classes: int,
    config: TuneConfig = TuneConfig(),
    model_path: Optional[Path] = None,
    log: bool = False,
) -> Tuned:
    """Cross-entropy fine-tuning of MiniLM plus a linear head; labels OOS (-1) become class n_classes."""
    from sentence_transformers import SentenceTransformer

    from knowledge.embedder import model_dir

    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = SentenceTransformer(str(model_path or model_dir()), device="cpu")
    model.max_seq_length = config.max_seq_length
    has_oos = bool((labels == OOS).any())
    target = torch.as_tensor(np.where(labels == OOS, n_classes, labels), dtype=torch.long)
    head = torch.nn.Linear(model.get_embedding_dimension(), n_classes + int(has_oos))
    params = list(model.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    steps = config.epochs * math.ceil(len(texts) / config.batch_size)
    warm = max(1, int(config.warmup * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm)))
    )
    lengths = np.array([len(t.split()) for t in texts])
    tuned = Tuned(model, head, n_classes)
    started, cpu_started = time.perf_counter(), time.process_time()
    model.train()
    for epoch in range(config.epochs):
        total = 0.0
        batches = _batches(lengths, config.batch_size, rng)
        for b, rows in enumerate(batches):
            logits = head(_pooled(model, [texts[i] for i in rows]))
            loss = torch.nn.functional.cross_entropy(logits, target[rows])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            total += loss.item() * len(rows)
            if log and b % 100 == 0:
                print(f"epoch {epoch + 1} batch {b}/{len(batches)} loss {loss.item():.3f} "
                      f"{time.perf_counter() - started:.0f}s", flush=True)  # fmt: skip
        tuned.epoch_losses.append(total / len(texts))
    tuned.wall_seconds = time.perf_counter() - started
    tuned.cpu_seconds = time.process_time() - cpu_started
    return tuned


def logit_scores(logits: np.ndarray, n_classes: int, rule: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predicted class, confidence and margin from head logits.

    softmax: the best in-scope class's probability (over all outputs); max_logit: its logit;
    energy: log-sum-exp of the in-scope logits. When the OOS output (column n_classes) is
    the largest, the prediction is OOS and the confidence -inf: never answered.
    """
    inside = logits[:, :n_classes].astype(np.float64)
    if rule == "softmax":
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        inside = (shifted / shifted.sum(axis=1, keepdims=True))[:, :n_classes]
    elif rule not in ("max_logit", "energy"):
        raise ValueError(f"unknown rule {rule!r}")
    pred, conf, margin = best_and_margin(inside)
    if rule == "energy":
        top = inside.max(axis=1)
        conf = top + np.log(np.exp(inside - top[:, None]).sum(axis=1))
    if logits.shape[1] > n_classes:
        oos_wins = logits.argmax(axis=1) == n_classes
        pred = np.where(oos_wins, OOS, pred)
        conf = np.where(oos_wins, -np.inf, conf)
    return pred, conf, margin


def load(data_path: Path) -> Tuple[List[str], Dict[str, Tuple[List[str], np.ndarray]]]:
    """In-scope class names, and per split its texts and labels (OOS = -1)."""
    data = json.loads(data_path.read_text(encoding="utf-8"))
    names = sorted({intent for _, intent in data["train"]})
    classes = {name: i for i, name in enumerate(names)}
    return names, {
        split: ([t for t, _ in rows], np.array([classes.get(i, OOS) for _, i in rows]))
        for split, rows in data.items()
    }


def joined(splits: Dict[str, Tuple[List[str], np.ndarray]], *names: str) -> Tuple[List[str], np.ndarray]:
    return [t for n in names for t in splits[n][0]], np.concatenate([splits[n][1] for n in names])


def tuned_outputs(data_path: Path, config: TuneConfig, keep: bool = False) -> Dict[str, Any]:
    """Fine-tune on train + oos_train (or reuse the cached run) and return every split's outputs."""
    from knowledge.embedder import Embedder

    fingerprint = Embedder().fingerprint() + json.dumps(asdict(config), sort_keys=True)
    key = hashlib.sha256(data_path.read_bytes() + fingerprint.encode()).hexdigest()[:16]
    cache = VAR / f"clinc-finetune-{key}.npz"
    if not cache.exists():
        names, splits = load(data_path)
        texts, labels = joined(splits, "train", "oos_train")
        print(f"fine-tuning on {len(texts)} utterances: {config}", flush=True)
        tuned = fine_tune(texts, labels, len(names), config, log=True)
        print(f"trained in {tuned.wall_seconds:.0f} s wall, {tuned.cpu_seconds:.0f} s CPU", flush=True)
        arrays: Dict[str, np.ndarray] = {}
        for part in ("train", "val", "test"):
            texts, labels = joined(splits, part, "oos_" + part)
            arrays[part + "_logits"], arrays[part + "_vectors"] = tuned.outputs(texts)
            arrays[part + "_labels"] = labels
        meta = {"wall": tuned.wall_seconds, "cpu": tuned.cpu_seconds, "losses": tuned.epoch_losses}
        VAR.mkdir(parents=True, exist_ok=True)
        np.savez(cache, meta=np.array(json.dumps(meta)), n_classes=np.array(len(names)), **arrays)
        if keep:
            tuned.model.save(str(VAR / f"clinc-finetune-{key}"))
            torch.save(tuned.head.state_dict(), VAR / f"clinc-finetune-{key}" / "head.pt")
    with np.load(cache) as saved:
        out: Dict[str, Any] = {k: saved[k] for k in saved.files}
    out["meta"] = json.loads(str(out["meta"]))
    out["n_classes"] = int(out["n_classes"])
    return out


def evaluate_all(out: Dict[str, Any], data_path: Optional[Path] = None) -> List[Dict[str, Any]]:
    """Every variant: threshold (and C) chosen on val + oos_val, then test + oos_test scored once.

    With ``data_path`` (the texts), also the tuned vectors beside word and character TF-IDF.
    """
    n = out["n_classes"]
    val: Split = (out["val_logits"], out["val_labels"])
    test: Split = (out["test_logits"], out["test_labels"])
    results = [
        variant(f"fine-tuned head, {rule}", "score", head_scorer(n, rule), val, test) for rule in RULES
    ]
    val, test = (out["val_vectors"], out["val_labels"]), (out["test_vectors"], out["test_labels"])
    vectors, labels = out["train_vectors"], out["train_labels"]
    fits: Dict[float, Scorer] = {c: logreg_scorer(vectors, labels, c) for c in LOGREG_C}
    scored = [(c, choose_threshold(*fits[c](val[0])[:2], val[1])[1]) for c in LOGREG_C]
    c = float(pick(scored)[0])  # type: ignore[arg-type]
    title = f"logistic regression on tuned embeddings, OOS a class (C={c} on val)"
    results.append(variant(title, "score", fits[c], val, test))
    inside = labels != OOS
    cent = centroids(vectors[inside], labels[inside], n)
    results.append(variant("class centroid on tuned embeddings", "score", centroid_scorer(cent), val, test))
    title = f"{MAHALANOBIS} on tuned embeddings"
    results.append(variant(title, "score", mahalanobis(vectors, labels, n), val, test))
    if data_path is not None:
        _, splits = load(data_path)
        texts = {part: joined(splits, part, "oos_" + part)[0] for part in ("train", "val", "test")}
        parts = {part: (texts[part], (out[part + "_vectors"], out[part + "_labels"])) for part in texts}
        results.append(hybrid_on("fine-tuned MiniLM", parts["train"], parts["val"], parts["test"]))
    return results


def head_scorer(n_classes: int, rule: str) -> Scorer:
    def scorer(logits: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        return logit_scores(logits, n_classes, rule)

    return scorer


def centroid_scorer(cent: np.ndarray) -> Scorer:
    def scorer(queries: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        return best_and_margin(queries @ cent.T)

    return scorer


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=TuneConfig.epochs)
    parser.add_argument("--lr", type=float, default=TuneConfig.lr)
    parser.add_argument("--batch", type=int, default=TuneConfig.batch_size)
    parser.add_argument("--seed", type=int, default=TuneConfig.seed)
    parser.add_argument("--save", action="store_true", help="keep the tuned weights under var/bench/")
    args = parser.parse_args(argv)
    config = TuneConfig(epochs=args.epochs, lr=args.lr, batch_size=args.batch, seed=args.seed)
    out = tuned_outputs(args.data, config, keep=args.save)
    results = evaluate_all(out, args.data)
    best = pick((r["name"], Outcome(*r["val"])) for r in results)[0]
    accuracy, recall = next(r["test"] for r in results if r["name"] == best)
    goal_met = accuracy >= GOAL[0] and recall >= GOAL[1]
    print(f"chosen on val: {best}; test {accuracy:.1%} / {recall:.1%}, goal met: {goal_met}", flush=True)
    save(
        "clinc_finetune",
        {"data": str(args.data), "config": asdict(config), "training": out["meta"], "chosen": best,
         "goal": GOAL, "goal_met": goal_met, "variants": results},
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
