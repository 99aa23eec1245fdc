"""Published versions of the knowledge base, and how a running process finds the newest.

A publication is three files beside the index directory (``var/index``):

- the index itself, replaced atomically (a rename) with the draft's vectors and scope classifier;
- ``index-versions/<version>.json``: the exact entries of that version (the corpus files stay the source of
  truth, but editors keep editing them; answering must pair the index with the entries it was built from);
- ``index-published.json``: a small marker ``{version, fingerprint}``, written last and atomically. Running
  processes stat it to notice a publication; until it changes they keep the knowledge base they have.

Building never happens in the answering process on a reload: if the index on disk is not the marker's
(another publication is half-way), the reload is skipped and tried again later.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional

from knowledge.base import KnowledgeBase, _fingerprint, _load_saved, _save, build
from knowledge.corpus import Corpus
from knowledge.embedder import Embedder
from knowledge.embedding_cache import EmbeddingCache
from knowledge.entry_files import write_text_atomic
from knowledge.schema import Entry
from knowledge.scope import labelled_examples

logger = logging.getLogger(__name__)


def _sibling(index_dir: Path, suffix: str) -> Path:
    return index_dir.with_name(index_dir.name + suffix)


def marker_path(index_dir: Path) -> Path:
    return _sibling(index_dir, "-published.json")


def snapshot_path(index_dir: Path, version: int) -> Path:
    return _sibling(index_dir, "-versions") / f"{version}.json"


def cache_path(index_dir: Path) -> Path:
    """The embedding cache load_or_build uses for this index (shared, so drafts re-embed only new texts)."""
    return _sibling(index_dir, "-embeddings.npz")


@dataclass(frozen=True)
class Marker:
    version: int
    fingerprint: str


def read_marker(index_dir: Path) -> Optional[Marker]:
    try:
        raw = json.loads(marker_path(index_dir).read_text(encoding="utf-8"))
        return Marker(int(raw["version"]), str(raw["fingerprint"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("publication marker %s is unreadable (%s)", marker_path(index_dir), exc)
        return None


def write_snapshot(index_dir: Path, version: int, corpus: Corpus) -> None:
    entries = [json.loads(entry.json()) for entry in corpus]
    write_text_atomic(snapshot_path(index_dir, version), json.dumps(entries, indent=0))


def read_snapshot(index_dir: Path, version: int, root: Path) -> Corpus:
    raw = json.loads(snapshot_path(index_dir, version).read_text(encoding="utf-8"))
    return Corpus([Entry.parse_obj(item) for item in raw], root)


def fingerprint_of(corpus: Corpus, embedder: Embedder) -> str:
    return _fingerprint(corpus, labelled_examples(), embedder)


def load_saved(directory: Path, corpus: Corpus, embedder: Embedder) -> Optional[KnowledgeBase]:
    """The knowledge base saved in ``directory`` if it was built from exactly ``corpus``; never builds."""
    fingerprint = fingerprint_of(corpus, embedder)
    saved = _load_saved(directory, fingerprint)
    return None if saved is None else KnowledgeBase(corpus, *saved, embedder, fingerprint)


def build_at(
    directory: Path,
    corpus: Corpus,
    embedder: Embedder,
    cache_file: Path,
    progress: bool = False,
    previous: Optional[KnowledgeBase] = None,
) -> KnowledgeBase:
    """Like load_or_build, but with an explicit embedding cache (a draft shares the live index's cache).

    ``previous``: the live version, whose scope classifier is reused when its questions are unchanged.
    """
    kb = load_saved(directory, corpus, embedder)
    if kb is not None:
        return kb
    cache = EmbeddingCache(cache_file, embedder.fingerprint())
    index, scope = build(corpus, embedder, progress, cache, previous)
    fingerprint = fingerprint_of(corpus, embedder)
    _save(directory, fingerprint, index, scope)
    return KnowledgeBase(corpus, index, scope, embedder, fingerprint)


def load_published(
    index_dir: Path, marker: Marker, root: Path, embedder: Embedder
) -> Optional[KnowledgeBase]:
    """The marker's version, or None while the index on disk is not (yet) that version's."""
    try:
        corpus = read_snapshot(index_dir, marker.version, root)
    except (OSError, ValueError) as exc:
        logger.warning("snapshot of version %d is unreadable (%s)", marker.version, exc)
        return None
    kb = load_saved(index_dir, corpus, embedder)
    if kb is None or kb.fingerprint != marker.fingerprint:
        return None
    return kb


@contextlib.contextmanager
def _file_lock(lock_file: Path) -> Iterator[None]:
    """An exclusive lock for threads and processes alike: each call opens the file anew, and a flock
    belongs to the open file (so two threads of one process exclude each other too)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def publishing_lock(index_dir: Path) -> contextlib.AbstractContextManager[None]:
    """One publication at a time per index (another editor's publish waits)."""
    return _file_lock(_sibling(index_dir, "-publish.lock"))


def corpus_files_lock(index_dir: Path) -> contextlib.AbstractContextManager[None]:
    """One writer of the corpus files at a time, from reading them to publishing them: the console's
    draft publication, a rollback and the CLI's publish (which must not read another's half-applied
    files). Taken outside publishing_lock, never inside it."""
    return _file_lock(_sibling(index_dir, "-files.lock"))


def build_draft(
    index_dir: Path,
    corpus: Corpus,
    embedder: Embedder,
    progress: bool = False,
    previous: Optional[KnowledgeBase] = None,
) -> KnowledgeBase:
    """The draft's knowledge base, built beside the live index (which stays untouched until publish)."""
    return build_at(
        _sibling(index_dir, "-draft"), corpus, embedder, cache_path(index_dir), progress, previous
    )


def make_live(index_dir: Path, draft: KnowledgeBase, version: int) -> Marker:
    """Swap the draft in: index (atomic rename), then the version's entries, then the marker."""
    _save(index_dir, draft.fingerprint, draft.index, draft.scope)
    write_snapshot(index_dir, version, draft.corpus)
    marker = Marker(version, draft.fingerprint)
    write_text_atomic(
        marker_path(index_dir), json.dumps({"version": version, "fingerprint": draft.fingerprint})
    )
    shutil.rmtree(_sibling(index_dir, "-draft"), ignore_errors=True)
    return marker


def published_versions(index_dir: Path) -> List[int]:
    folder = _sibling(index_dir, "-versions")
    return sorted(int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit())
