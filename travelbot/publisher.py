"""`travelbot publish`: validate the corpus files, gate the draft on the regression set, make it live.

For editors who work in git: they edit ``knowledge/corpus`` (or the directory ``corpus_dir`` names) and run
this. The draft is built beside the live index; the running action servers keep answering from the live
version until the marker changes (knowledge/publish.py), then swap without a restart.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from knowledge.corpus import CorpusError, entry_files, load_corpus
from knowledge.embedder import Embedder
from knowledge.embedding_cache import EmbeddingCache
from knowledge.entry_files import write_bytes_atomic
from knowledge.policy import Policy
from knowledge.publish import (
    build_at,
    build_draft,
    cache_path,
    corpus_files_lock,
    load_published,
    load_saved,
    make_live,
    published_versions,
    publishing_lock,
    read_marker,
    read_snapshot,
)
from knowledge.validate import Sources, validate
from travelbot.gate import (
    ParseCache,
    Parser,
    gate_embeddings_path,
    gate_parses_path,
    load_questions,
    rasa_parser,
    regression_files,
    run_gate,
)
from travelbot.handoffs import HandoffStore
from travelbot.publications import Publication, PublicationStore
from travelbot.settings import Settings, settings


@dataclass
class PublishResult:
    ok: bool
    lines: List[str] = field(default_factory=list)
    version: Optional[int] = None
    gate: str = ""


def _author() -> str:
    return os.environ.get("USER") or getpass.getuser()


def publish(
    config: Settings,
    reason: str = "",
    override: Optional[str] = None,
    parser: Callable[[], Parser] = rasa_parser,
    embedder: Optional[Embedder] = None,
    author: Optional[str] = None,
    progress: bool = False,
) -> PublishResult:
    """Publish the corpus files under config.corpus_path(); refused (ok False) when invalid or gated."""
    if override is not None and not override.strip():
        return PublishResult(False, ["--override-gate needs a reason"])
    corpus_dir, index_dir = config.corpus_path(), config.index_path()
    try:
        corpus = load_corpus(corpus_dir)
    except CorpusError as exc:
        return PublishResult(False, [*map(str, exc.problems), "refused: the corpus does not validate"])
    problems = validate(corpus, Sources.load())
    if problems:
        return PublishResult(False, [*map(str, problems), "refused: the corpus does not validate"])
    embedder = embedder or Embedder()
    with publishing_lock(index_dir):
        marker = read_marker(index_dir)
        if marker is None:
            live = load_saved(index_dir, corpus, embedder)  # unchanged files: the first publication
        else:
            live_corpus = read_snapshot(index_dir, marker.version, corpus_dir)
            live = load_published(index_dir, marker, corpus_dir, embedder) or build_at(
                index_dir.with_name(index_dir.name + "-live"), live_corpus, embedder, cache_path(index_dir)
            )
        draft = build_draft(index_dir, corpus, embedder, progress, previous=live)
        if marker is None and live is None and override is None:
            return PublishResult(
                False,
                [
                    "refused: nothing published yet to compare the draft with; publish the unchanged "
                    "corpus first, or pass --override-gate REASON"
                ],
            )
        if marker is not None and live is not None and live.fingerprint == draft.fingerprint:
            return PublishResult(True, [f"nothing to publish: version {marker.version} is these files"])
        lines: List[str] = []
        if live is None or (marker is None and live.fingerprint == draft.fingerprint):
            gate, summary = ("baseline" if live else "overridden"), "no earlier version to compare with"
        else:
            questions = load_questions(regression_files(corpus_dir))
            parses = ParseCache(gate_parses_path(index_dir))
            parse = parses.parser([q.q for q in questions], parser)
            cache = EmbeddingCache(gate_embeddings_path(index_dir), embedder.fingerprint())
            report = run_gate(
                Policy(live, config.retrieval), Policy(draft, config.retrieval), questions, parse, cache
            )
            lines, summary = report.lines(), report.summary()
            if not report.passed and override is None:
                return PublishResult(
                    False, [*lines, "refused: pass --override-gate REASON to publish anyway"]
                )
            gate = "passed" if report.passed else "overridden"
        version = max([marker.version if marker else 0, *published_versions(index_dir)]) + 1
        make_live(index_dir, draft, version)
    store = PublicationStore(HandoffStore(config.storage.url()).engine)
    store.record(
        Publication(
            version=version,
            author=author or _author(),
            reason=reason,
            fingerprint=draft.fingerprint,
            gate=gate,
            gate_summary=summary,
            override_reason=override if gate == "overridden" else None,
        )
    )
    return PublishResult(True, [*lines, f"published version {version} ({gate})"], version, gate)


def snapshot_files(corpus_dir: Path) -> Dict[Path, bytes]:
    return {path: path.read_bytes() for path in entry_files(corpus_dir)}


def restore_files(corpus_dir: Path, saved: Dict[Path, bytes]) -> None:
    """Make the entry files exactly ``saved`` again: rewrite what differs, delete what is new."""
    for path in entry_files(corpus_dir):
        if path not in saved:
            path.unlink()
    for path, content in saved.items():
        if not path.exists() or path.read_bytes() != content:
            write_bytes_atomic(path, content)


def publish_rewritten(
    config: Settings, rewrite: Callable[[Path], object], reason: str, **options: Any
) -> PublishResult:
    """``rewrite(corpus_dir)`` the entry files, then publish them; unless a new version went live, every
    file is put back byte for byte (an editor's unpublished work in the files is never lost).

    The console's draft publication and a rollback both work this way, holding the corpus-files lock
    from the first write to the restore, so neither they nor a CLI publish see each other's files.
    ``options``: publish()'s keyword arguments (override, parser, embedder, author, progress).
    """
    corpus_dir = config.corpus_path()
    with corpus_files_lock(config.index_path()):
        saved = snapshot_files(corpus_dir)
        try:
            rewrite(corpus_dir)
            result = publish(config, reason, **options)
        except BaseException:
            restore_files(corpus_dir, saved)
            raise
        if result.version is None:  # refused, invalid, or nothing new to publish
            restore_files(corpus_dir, saved)
    return result


def cmd_publish(args: argparse.Namespace) -> int:
    started = time.monotonic()
    config = settings()
    with corpus_files_lock(config.index_path()):
        result = publish(config, args.reason or "", args.override_gate, progress=True)
    return print_result(result, started)


def print_result(result: PublishResult, started: float) -> int:
    """A CLI publication's lines (stdout, or stderr when refused), its duration; the exit status."""
    for line in result.lines:
        print(line, file=sys.stdout if result.ok else sys.stderr)
    print(f"({time.monotonic() - started:.1f} s)", file=sys.stderr)
    return 0 if result.ok else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "publish", help="validate, gate on the regression set and make the corpus files live (no restart)"
    )
    p.add_argument("--reason", help="why (recorded with the publication)")
    p.add_argument("--override-gate", metavar="REASON", help="publish even if the gate refuses; recorded")
    p.set_defaults(func=cmd_publish)
