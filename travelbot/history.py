"""What each published version changed: entries added, removed and changed, with the file diffs.

Computed from the versions' snapshots (knowledge/publish.py keeps the exact entries of every version), not
from git: a publication from the console or a rollback makes no commit, and the corpus files move on after
a publication. A changed entry's diff is of its YAML file as knowledge/entry_files.py writes it, so it reads
like the diff of the corpus file the editor changed.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, List, Optional

from knowledge.corpus import KIND_FOLDERS, Corpus
from knowledge.entry_files import render_entry
from knowledge.publish import published_versions, read_snapshot
from knowledge.schema import Entry


@dataclass(frozen=True)
class EntryChange:
    entry_id: str
    fields: List[str]  # in the schema's order
    diff: str  # unified diff of the entry's YAML file, before -> after


@dataclass(frozen=True)
class Changes:
    added: List[str] = field(default_factory=list)
    removed: List[str] = field(default_factory=list)
    changed: List[EntryChange] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


@dataclass(frozen=True)
class VersionDiff:
    version: int
    previous: Optional[int]  # None for the first version (nothing to compare with)
    entries: int  # how many entries the version has
    changes: Changes


def _relative_path(entry: Entry) -> str:
    return f"{KIND_FOLDERS[entry.kind.value]}/{entry.id}.yml"


def changed_fields(before: Entry, after: Entry) -> List[str]:
    old, new = before.dict(), after.dict()
    return [name for name in Entry.__fields__ if old.get(name) != new.get(name)]


def file_diff(before: Entry, after: Entry) -> str:
    """The diff write_entry makes to a file holding ``before`` when it writes ``after``."""
    old_text = render_entry(before)
    lines = difflib.unified_diff(
        old_text.splitlines(keepends=True),
        render_entry(after, previous=old_text).splitlines(keepends=True),
        fromfile=f"a/{_relative_path(before)}",
        tofile=f"b/{_relative_path(after)}",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def compare(before: Iterable[Entry], after: Iterable[Entry]) -> Changes:
    """What turns the entries ``before`` into ``after`` (ids sorted)."""
    old = {entry.id: entry for entry in before}
    new = {entry.id: entry for entry in after}
    changed = [
        EntryChange(
            entry_id, changed_fields(old[entry_id], new[entry_id]), file_diff(old[entry_id], new[entry_id])
        )
        for entry_id in sorted(old.keys() & new.keys())
        if old[entry_id] != new[entry_id]
    ]
    return Changes(sorted(new.keys() - old.keys()), sorted(old.keys() - new.keys()), changed)


def previous_version(index_dir: Path, version: int) -> Optional[int]:
    """The newest published version before ``version`` whose entries are kept."""
    earlier = [v for v in published_versions(index_dir) if v < version]
    return earlier[-1] if earlier else None


def version_diff(index_dir: Path, version: int, corpus_dir: Path) -> VersionDiff:
    """The diff of ``version`` against the version before it; OSError/ValueError if its snapshot is gone."""
    after = read_snapshot(index_dir, version, corpus_dir)
    previous = previous_version(index_dir, version)
    before: Corpus = (
        Corpus([], corpus_dir) if previous is None else read_snapshot(index_dir, previous, corpus_dir)
    )
    return VersionDiff(version, previous, len(after), compare(before, after))
