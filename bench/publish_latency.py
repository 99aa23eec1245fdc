"""Publish and rollback latency: one edited entry published (or rolled back) -> live for the next message.

End to end with every process running: the real Rasa server and action server (tests/servers.py, same
command lines as `make run`) answer a traveler who keeps asking the edited entry's question, while an editor
publishes. Works on a temporary copy of the corpus and index; knowledge/corpus is never written.

Two ways to publish are timed, each from its start to the first reply that carries the new text:
- ``cli``: `travelbot publish` as an editor runs it (a new process: loads MiniLM and the Rasa NLU model
  for the gate, validates, builds the draft, gates, swaps);
- ``in-process``: publisher.publish() in a process that already has the models loaded (as a console would).
``batch-50-in-process``: 50 entries edited at once, published in-process. Rollbacks the same two ways, each
from its start to the first reply with the older text (and without the newer one): ``rollback-cli``
(`travelbot rollback V`, back to the CLI's version) and ``rollback-in-process`` (rollback(),
in-process, forward again to the in-process version: a rollback can go to any version).
The ``swap`` figure is from the publication marker being written to that first new reply. The gate's cache of
Rasa's readings of the regression questions is warm (as after any earlier publication); a cold cache adds
loading the Rasa model to the first CLI publication.

Usage: python -m bench.publish_latency [--runs N]  (writes var/bench/publish_latency.json)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import yaml

from knowledge.corpus import CORPUS_DIR, load_corpus
from knowledge.embedder import Embedder
from knowledge.publish import build_at, cache_path, marker_path, read_marker
from tests.servers import Servers, start_servers
from travelbot.gate import ParseCache, gate_parses_path, load_questions, rasa_parser, regression_files
from travelbot.publisher import publish
from travelbot.rollback import rollback
from travelbot.settings import ROOT, Settings, load_settings

ENTRY = "smart-luggage"
BATCH = 50  # entries edited at once for the batch figure (target <= 30 s)
QUESTION = "can i bring smart luggage on a plane"
OUT = ROOT / "var" / "bench" / "publish_latency.json"


def _copy(workdir: Path) -> Dict[str, str]:
    shutil.copytree(CORPUS_DIR, workdir / "knowledge" / "corpus")
    if (ROOT / "var" / "index").exists():
        shutil.copytree(ROOT / "var" / "index", workdir / "index")
    if (ROOT / "var" / "index-embeddings.npz").exists():
        shutil.copy(ROOT / "var" / "index-embeddings.npz", workdir / "index-embeddings.npz")
    return {
        "TRAVELBOT_CORPUS_DIR": str(workdir / "knowledge" / "corpus"),
        "TRAVELBOT_INDEX_DIR": str(workdir / "index"),
    }


def _edit(corpus_dir: Path, sentence: str, others: int = 0) -> None:
    """Append ``sentence`` to the answer of ENTRY (and of the first ``others`` other items: a batch)."""
    paths = [corpus_dir / "items" / f"{ENTRY}.yml"]
    paths += [p for p in sorted((corpus_dir / "items").glob("*.yml")) if p != paths[0]][:others]
    for path in paths:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        raw["answer"] = raw["answer"].rstrip() + "\n\n" + sentence + "\n"
        path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _until_live(
    servers: Servers,
    sentence: str,
    started: float,
    proc: Optional[subprocess.Popen],
    without: Optional[str] = None,
) -> float:
    """Ask the question again and again; the time from ``started`` to the first reply with the sentence
    (and, for a rollback, without the newer sentence ``without``)."""
    asked, after_publish = 0, 0
    while True:
        asked += 1
        replies = servers.say(f"bench-{started}-{asked}", QUESTION)
        text = "\n".join(r.get("text") or "" for r in replies)
        if sentence in text and not (without and without in text):
            return time.monotonic() - started
        after_publish += proc is None or proc.poll() is not None
        if after_publish > 200:
            raise RuntimeError("the publication never went live")
        time.sleep(0.05)


def _live_version(index_dir: Path) -> int:
    marker = read_marker(index_dir)
    if marker is None:
        raise SystemExit("nothing published")
    return marker.version


def _marker_age(index_dir: Path) -> float:
    """Seconds since the marker was written (wall clock: file times are wall clock)."""
    return time.time() - marker_path(index_dir).stat().st_mtime


def run(runs: int) -> Dict[str, List[float]]:
    figures: Dict[str, List[float]] = {
        "cli": [],
        "in-process": [],
        "rollback-cli": [],
        "rollback-in-process": [],
        f"batch-{BATCH}-in-process": [],
        "swap": [],
    }
    with tempfile.TemporaryDirectory(prefix="publish-bench-") as tmp:
        workdir = Path(tmp)
        env_paths = _copy(workdir)
        base = load_settings(ROOT / "travelbot.yml").copy(
            update={"corpus_dir": workdir / "knowledge" / "corpus", "index_dir": workdir / "index"}
        )
        base.storage.sqlite_path = workdir / "handoffs.db"
        embedder = Embedder()
        build_at(base.index_path(), load_corpus(base.corpus_path()), embedder, cache_path(base.index_path()))
        first = publish(base, reason="baseline", embedder=embedder, author="bench")
        if not first.ok:
            raise SystemExit("\n".join(first.lines))
        # The gate's Rasa readings of the regression questions, as after any earlier publication.
        questions = [q.q for q in load_questions(regression_files(base.corpus_path()))]
        ParseCache(gate_parses_path(base.index_path())).parser(questions, rasa_parser)
        with start_servers(workdir, extra_env=env_paths) as servers:
            config = load_settings(workdir / "travelbot.yml").copy(
                update={"corpus_dir": base.corpus_dir, "index_dir": base.index_dir}
            )
            env = dict(os.environ, TRAVELBOT_CONFIG=str(workdir / "travelbot.yml"), **env_paths)
            for run_number in range(runs):
                sentence = f"Bench note {run_number}: ask your airline about smart bags."
                _edit(config.corpus_path(), sentence)
                started = time.monotonic()
                proc = subprocess.Popen(
                    [str(Path(sys.executable).parent / "travelbot"), "publish", "--reason", "bench"],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                figures["cli"].append(_until_live(servers, sentence, started, proc))
                figures["swap"].append(_marker_age(config.index_path()))
                _, err = proc.communicate()
                if proc.returncode != 0:
                    raise SystemExit(f"publish failed:\n{err}")
                cli_version, cli_sentence = _live_version(config.index_path()), sentence

                sentence = f"Bench note {run_number}b: ask your airline about smart bags."
                _edit(config.corpus_path(), sentence)
                started = time.monotonic()
                result = publish(config, reason="bench", embedder=embedder, author="bench")
                if not result.ok or result.version is None:
                    raise SystemExit("\n".join(result.lines))
                figures["in-process"].append(_until_live(servers, sentence, started, None))
                figures["swap"].append(_marker_age(config.index_path()))
                in_process_version = result.version

                started = time.monotonic()
                command = ["rollback", str(cli_version), "--reason", "bench"]
                proc = subprocess.Popen(
                    [str(Path(sys.executable).parent / "travelbot"), *command],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                figures["rollback-cli"].append(
                    _until_live(servers, cli_sentence, started, proc, without=sentence)
                )
                figures["swap"].append(_marker_age(config.index_path()))
                _, err = proc.communicate()
                if proc.returncode != 0:
                    raise SystemExit(f"rollback failed:\n{err}")

                started = time.monotonic()
                result = rollback(config, in_process_version, "bench", embedder=embedder, author="bench")
                if not result.ok:
                    raise SystemExit("\n".join(result.lines))
                figures["rollback-in-process"].append(_until_live(servers, sentence, started, None))
                figures["swap"].append(_marker_age(config.index_path()))

                sentence = f"Bench note {run_number}c: a batch of {BATCH} edited entries."
                _edit(config.corpus_path(), sentence, others=BATCH - 1)
                started = time.monotonic()
                result = publish(config, reason="bench batch", embedder=embedder, author="bench")
                if not result.ok or result.version is None:
                    raise SystemExit("\n".join(result.lines))
                figures[f"batch-{BATCH}-in-process"].append(_until_live(servers, sentence, started, None))
                figures["swap"].append(_marker_age(config.index_path()))
    return figures


def _summary(config: Settings, figures: Dict[str, List[float]]) -> Dict[str, object]:
    return {
        "entries": len(load_corpus(config.corpus_path())),
        "reload_check_ms": config.reload_check_ms,
        **{
            name: {"runs": [round(v, 2) for v in values], "median_s": round(statistics.median(values), 2)}
            for name, values in figures.items()
            if values
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    figures = run(args.runs)
    summary = _summary(load_settings(), figures)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    for name in figures:
        values = figures[name]
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(f"{name:<19} median {statistics.median(values):6.2f} s  runs {runs}")
    print(f"targets: <= 5 s end to end for one entry or a rollback, <= 30 s for {BATCH}; written to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
