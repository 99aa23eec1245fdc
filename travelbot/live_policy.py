"""The decision policy a running process answers with, swapped when an editor publishes.

``current()`` is called on every turn, so it only stats the publication marker, and at most every
``reload_check_ms``. When the marker changed, the calling thread loads the published version (index already
built by the publisher; the loaded embedding model is reused) and replaces the reference in one assignment.
A turn that already holds the old Policy finishes with it; other threads never wait for a reload: while one
runs they keep answering with the old version. Nothing half-built is ever visible.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Optional, Tuple

from knowledge.base import KnowledgeBase, load_or_build
from knowledge.corpus import load_corpus
from knowledge.embedder import Embedder
from knowledge.policy import Policy
from knowledge.publish import build_at, cache_path, load_published, marker_path, read_marker, read_snapshot
from travelbot.settings import Settings

logger = logging.getLogger(__name__)
Stamp = Optional[Tuple[int, int, int]]


def _stamp(path: Path) -> Stamp:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


class LivePolicy:
    def __init__(self, config: Settings, progress: bool = False):
        self.config = config
        self.index_dir = config.index_path()
        self.marker = marker_path(self.index_dir)
        self._reloading = threading.Lock()
        self._next_check = 0.0
        self._seen = _stamp(self.marker)  # before loading: a publication during start-up is picked up next
        self._policy = Policy(self._initial(progress), config.retrieval)
        self.version = self._loaded_version

    def _initial(self, progress: bool) -> KnowledgeBase:
        """The published version if any (rebuilt if `travelbot index` replaced it), else the files."""
        self._loaded_version = 0
        published = read_marker(self.index_dir)
        if published is not None:
            try:
                corpus = read_snapshot(self.index_dir, published.version, self.config.corpus_path())
            except (OSError, ValueError) as exc:
                logger.warning(
                    "published version %d unreadable (%s); using the files", published.version, exc
                )
            else:
                self._loaded_version = published.version
                return build_at(self.index_dir, corpus, Embedder(), cache_path(self.index_dir), progress)
        corpus = load_corpus(self.config.corpus_path())
        return load_or_build(self.index_dir, corpus=corpus, progress=progress)

    def current(self) -> Policy:
        now = time.monotonic()
        if now >= self._next_check and self._reloading.acquire(blocking=False):
            try:
                self._next_check = now + self.config.reload_check_ms / 1000
                self._reload_if_published()
            finally:
                self._reloading.release()
        return self._policy

    def _reload_if_published(self) -> None:
        stamp = _stamp(self.marker)
        if stamp == self._seen:
            return
        published = read_marker(self.index_dir)
        if published is None or published.version == self.version:
            self._seen = stamp
            return
        started = time.monotonic()
        kb = load_published(self.index_dir, published, self.config.corpus_path(), self._policy.kb.embedder)
        if kb is None:  # the next publication is half-way: keep answering, look again next time
            logger.info("published version %d not complete on disk yet", published.version)
            return
        self._policy = Policy(kb, self.config.retrieval)
        self.version = published.version
        self._seen = stamp
        logger.info("now answering from version %d (%.2f s)", published.version, time.monotonic() - started)
