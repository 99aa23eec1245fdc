"""`travelbot rollback VERSION`: make an earlier version's entries live again, as a new publication.

History is never rewritten. The old entries are written back to the corpus files (they stay the source of
truth) and published like any edit (validated, gated on the regression set, recorded with the reason
"rollback to version V: R"), so the rollback gets the next version number. If nothing is published (the
gate refused, the publication failed, or the live version has those entries already), the files are put
back byte for byte: a rollback that publishes nothing must not lose an editor's unpublished work in them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable, List, Optional

from knowledge.corpus import CorpusError, entry_files, read_entry
from knowledge.embedder import Embedder
from knowledge.entry_files import entry_path, remove_entry, write_entry
from knowledge.publish import published_versions, read_snapshot
from knowledge.schema import Entry
from travelbot.gate import Parser, rasa_parser
from travelbot.publisher import PublishResult, print_result, publish_rewritten
from travelbot.settings import Settings, settings


def _current_entry(path: Path, corpus_dir: Path) -> Optional[Entry]:
    try:
        return read_entry(path, corpus_dir)
    except CorpusError:
        return None  # a broken file is simply rewritten


def write_version(corpus_dir: Path, entries: List[Entry]) -> List[Path]:
    """Make the entry files hold exactly ``entries``; returns the files written or removed.

    Files that already hold an entry unchanged are left alone (their formatting too), so the corpus diff
    of a rollback is only what it reverts.
    """
    wanted = {entry_path(corpus_dir, entry): entry for entry in entries}
    ids = {entry.id for entry in entries}
    touched = []
    for path in entry_files(corpus_dir):
        if path.stem not in ids:  # an entry that changed kind is moved by write_entry
            touched.append(remove_entry(corpus_dir, path.stem))
    for path, entry in wanted.items():
        if not path.exists() or _current_entry(path, corpus_dir) != entry:
            touched.append(write_entry(corpus_dir, entry))
    return touched


def rollback(
    config: Settings,
    version: int,
    reason: str,
    override: Optional[str] = None,
    parser: Callable[[], Parser] = rasa_parser,
    embedder: Optional[Embedder] = None,
    author: Optional[str] = None,
    progress: bool = False,
) -> PublishResult:
    """Publish ``version``'s entries again as a new version; refused (ok False) like any publication."""
    if not reason.strip():
        return PublishResult(False, ["a rollback needs a reason"])
    corpus_dir, index_dir = config.corpus_path(), config.index_path()
    if version not in published_versions(index_dir):
        known = ", ".join(map(str, published_versions(index_dir))) or "none"
        return PublishResult(False, [f"no published version {version} (published versions: {known})"])
    target = read_snapshot(index_dir, version, corpus_dir)
    result = publish_rewritten(
        config,
        lambda files: write_version(files, target.entries),
        f"rollback to version {version}: {reason.strip()}",
        override=override,
        parser=parser,
        embedder=embedder,
        author=author,
        progress=progress,
    )
    if result.version is None:  # refused, or the live version has these entries already
        result.lines.append("the corpus files are as they were before the rollback")
    return result


def cmd_rollback(args: argparse.Namespace) -> int:
    started = time.monotonic()
    result = rollback(settings(), args.version, args.reason, args.override_gate, progress=True)
    return print_result(result, started)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "rollback",
        help="publish an earlier version's entries again (gated, recorded, a new version number)",
    )
    p.add_argument("version", type=int, help="the published version to go back to")
    p.add_argument("--reason", required=True, help="why (recorded with the publication)")
    p.add_argument("--override-gate", metavar="REASON", help="roll back even if the gate refuses; recorded")
    p.set_defaults(func=cmd_rollback)
