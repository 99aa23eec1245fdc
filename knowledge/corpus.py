"""Reading the FAQ corpus from its YAML files.

One entry per file (``<kind>s/<id>.yml``) so that every editorial change is a
small, reviewable diff. Loading either yields every entry or raises a
``CorpusError`` listing each broken file and field.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Sequence

import yaml
from pydantic import ValidationError

from knowledge.schema import Entry

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
KIND_FOLDERS = {"item": "items", "topic": "topics"}
# libyaml's safe loader when PyYAML was built with it (same results, ~10x faster: a publication reads every
# file), else the pure-Python one.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the corpus, located precisely enough to fix."""

    file: str
    entry_id: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.entry_id}: {self.field}: {self.message}"


class CorpusError(Exception):
    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the FAQ corpus:\n{lines}")


class Corpus:
    """The validated entries, in a stable order, with a content fingerprint."""

    def __init__(self, entries: Sequence[Entry], root: Path = CORPUS_DIR):
        self.root = root
        self.entries: List[Entry] = sorted(entries, key=lambda e: e.id)
        self.by_id: Dict[str, Entry] = {e.id: e for e in self.entries}

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self.by_id

    def __getitem__(self, entry_id: str) -> Entry:
        return self.by_id[entry_id]

    def fingerprint(self) -> str:
        """Hash of everything retrieval depends on; changes when any entry does."""
        digest = hashlib.sha256()
        for entry in self.entries:
            digest.update(entry.json(sort_keys=True).encode())
        return digest.hexdigest()

    def path_of(self, entry: Entry) -> Path:
        return self.root / KIND_FOLDERS[entry.kind.value] / f"{entry.id}.yml"


def entry_files(root: Path = CORPUS_DIR) -> List[Path]:
    return sorted(p for folder in KIND_FOLDERS.values() for p in (root / folder).glob("*.yml"))


def read_entry(path: Path, root: Path = CORPUS_DIR) -> Entry:
    """Parse and validate one file; raises CorpusError naming file and field."""
    rel = str(path.relative_to(root.parent)) if path.is_relative_to(root.parent) else str(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CorpusError([Problem(rel, path.stem, "(file)", f"not valid YAML: {exc}")]) from exc
    if not isinstance(raw, dict):
        raise CorpusError([Problem(rel, path.stem, "(file)", "must be a mapping of fields")])
    entry_id = str(raw.get("id", path.stem))
    try:
        entry = Entry.parse_obj(raw)
    except ValidationError as exc:
        problems = [
            Problem(rel, entry_id, ".".join(str(p) for p in err["loc"]), err["msg"]) for err in exc.errors()
        ]
        raise CorpusError(problems) from exc
    expected_folder = KIND_FOLDERS[entry.kind.value]
    if path.stem != entry.id or path.parent.name != expected_folder:
        raise CorpusError([Problem(rel, entry.id, "id", f"file must be {expected_folder}/{entry.id}.yml")])
    return entry


def load_corpus(root: Path = CORPUS_DIR) -> Corpus:
    """Load every entry under ``root``; all problems are collected before raising."""
    entries: List[Entry] = []
    problems: List[Problem] = []
    seen: Dict[str, str] = {}
    for path in entry_files(root):
        try:
            entry = read_entry(path, root)
        except CorpusError as exc:
            problems.extend(exc.problems)
            continue
        if entry.id in seen:
            problems.append(Problem(path.name, entry.id, "id", f"duplicate of {seen[entry.id]}"))
            continue
        seen[entry.id] = path.name
        entries.append(entry)
    ids = set(seen)
    for entry in entries:
        for other in entry.related:
            if other not in ids:
                problems.append(Problem(f"{entry.id}.yml", entry.id, "related", f"unknown id {other!r}"))
    if not entries and not problems:
        problems.append(Problem(str(root), "-", "(corpus)", "no entries found"))
    if problems:
        raise CorpusError(problems)
    return Corpus(entries, root)
