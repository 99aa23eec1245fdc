"""Dev-set answer quality of the full decision path and three peers, in one run.

(a) the full path `travelbot ask --json` runs (travelbot.asker.Asker, loaded once);
(b) BM25 over the same entries' texts (one document per entry, and one per text);
(c) Rasa's ResponseSelector trained on the same texts (bench/rasa_peer.py);
(d) plain MiniLM 1-NN over the project's own FAISS index, without the policy.

The peers answer when their score reaches a threshold. That threshold is the
one with the best balanced score (mean of in-scope accuracy and out-of-scope
recall) *on the dev set itself*, which flatters the peers; the 2-fold
cross-fitted figures beside it choose each half's threshold on the other half.
Usage: python -m bench.compare [DEV_JSONL] [--epochs N] [--name KEY]
(`make bench` runs it on the shared dev set and, with --name heldout, on bench/heldout.jsonl.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Set

from bench.devset import (
    DevRow,
    Prediction,
    best_balanced,
    cross_fitted,
    load_dev,
    score,
    sweep,
    with_threshold,
)
from bench.peers import BM25Peer, NearestPeer
from bench.rasa_peer import RasaPeer, train
from bench.results import save
from travelbot.asker import Asker
from travelbot.settings import ROOT

DEFAULT_DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"


def run(predict: Callable[[str], Prediction], rows: Sequence[DevRow]) -> List[Prediction]:
    predict(rows[0].question)  # warm-up: lazy loading is not a question's latency
    return [predict(row.question) for row in rows]


def full_path(asker: Asker) -> Callable[[str], Prediction]:
    import time

    def predict(text: str) -> Prediction:
        started = time.perf_counter()
        result = asker.ask(text)
        elapsed = (time.perf_counter() - started) * 1000
        answered = result["decision"] == "answer"
        entry = result["entry_id"] if answered else None
        return Prediction(entry, float(result["score"]), answered, elapsed, str(result["decision"]))

    return predict


def peer_report(name: str, rows: Sequence[DevRow], ranked: List[Prediction], known: Set[str]) -> Dict:
    points = sweep(rows, ranked, known)
    chosen = best_balanced(points)
    metrics = score(rows, with_threshold(ranked, chosen.threshold), known)
    honest = score(rows, cross_fitted(rows, ranked, known), known)
    print(
        f"{name}: threshold {chosen.threshold:.3f}: in-scope {metrics.in_accuracy:.1%}, "
        f"oos recall {metrics.oos_recall:.1%}, wrong {metrics.wrong}; cross-fitted in-scope "
        f"{honest.in_accuracy:.1%}, oos {honest.oos_recall:.1%}, wrong {honest.wrong}",
        flush=True,
    )
    return {
        "name": name,
        "threshold": chosen.threshold,
        "metrics": metrics.to_json(),
        "cross_fitted": honest.to_json(),
        "curve": [[p.threshold, p.in_accuracy, p.oos_recall, p.wrong_rate] for p in points],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dev", nargs="?", type=Path, default=DEFAULT_DEV)
    parser.add_argument("--name", default="dev", help="results key (and plot name) to save under")
    # Rasa's defaults are 300; at 40 the selector still got only 88 % of its own training texts right
    # and ranked the right entry first for a third of the dev questions: a peer trained too little.
    parser.add_argument("--epochs", type=int, default=100, help="DIET and ResponseSelector epochs")
    args = parser.parse_args(argv)
    rows = load_dev(args.dev)
    asker = Asker.load()
    kb = asker.policy.kb
    known = set(kb.corpus.by_id)
    systems: List[Dict] = []

    full = score(rows, run(full_path(asker), rows), known)
    print(f"full path: in-scope {full.in_accuracy:.1%}, oos {full.oos_recall:.1%}, wrong {full.wrong}")
    systems.append({"name": "full decision path (ours)", "threshold": None, "metrics": full.to_json()})

    peers: Dict[str, Callable[[str], Prediction]] = {
        "BM25, one doc per entry": BM25Peer(kb.corpus, per_entry=True).predict,
        "BM25, one doc per text": BM25Peer(kb.corpus, per_entry=False).predict,
        "MiniLM 1-NN (our index, no policy)": NearestPeer(kb).predict,
    }
    model_file, train_took = train(kb.corpus, epochs=args.epochs)
    peers[f"Rasa DIET + ResponseSelector ({args.epochs} epochs)"] = RasaPeer(model_file).predict
    for name, predict in peers.items():
        systems.append(peer_report(name, rows, run(predict, rows), known))

    save(
        args.name,
        {
            "dev_path": str(args.dev),
            "rows": len(rows),
            "entries": len(kb.corpus),
            "epochs": args.epochs,
            "rasa_train": train_took,
            "plot": f"{args.name}_tradeoff.png",
            "systems": systems,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
