"""What the FAQ editor pages work on: the corpus files, the drafts over them, and a preview of the result.

One per console process. Reading the 521 entry files takes seconds, so the parsed corpus is kept until a
file changes (a publish, or someone's `git pull`). The embedding model is the console's one Embedder
(``app.extensions["travelbot_embedder"]``), loaded on the first preview or publish and then kept. A preview
answers from a knowledge base built for the draft corpus in its own directory beside the live index
(``<index>-preview``, sharing its embedding cache, so only edited texts are embedded); nothing is ever
built on the bot's answering path, which only picks up a finished publication.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

import sqlalchemy as sa

from knowledge.corpus import Corpus, Problem, entry_files, load_corpus
from knowledge.embedder import Embedder
from knowledge.policy import Outcome, Policy
from knowledge.publish import build_at, cache_path, load_saved
from knowledge.schema import Entry
from knowledge.validate import Sources, shared_aliases, validate
from travelbot.audit import AuditLog
from travelbot.drafts import DraftsPublished, DraftStore, publish_drafts
from travelbot.settings import Settings

Stamp = Tuple[Tuple[str, int, int], ...]


def _stamp(corpus_dir: Path) -> Stamp:
    stamps = []
    for path in entry_files(corpus_dir):
        stat = os.stat(path)
        stamps.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(stamps)


def unknown_related(corpus: Corpus) -> List[Problem]:
    """`related` ids that name no entry: load_corpus's check, for a corpus that exists only in memory."""
    return [
        Problem(f"{entry.id}.yml", entry.id, "related", f"unknown id {other!r}")
        for entry in corpus
        for other in entry.related
        if other not in corpus
    ]


@dataclass
class Preview:
    """What the assistant would answer from the draft corpus."""

    question: str
    outcome: Outcome
    entry: Optional[Entry]  # the answer's entry
    choices: List[Entry] = field(default_factory=list)  # a clarify's options
    candidates: List[Tuple[str, str, float]] = field(default_factory=list)  # (id, title, score), best first


class Workspace:
    def __init__(self, config: Settings, engine: sa.engine.Engine, embedder: Embedder):
        self.config = config
        self.embedder = embedder  # the console's one model (loaded on first use), shared with other pages
        self.drafts = DraftStore(engine)
        self.audit = AuditLog(engine)
        self.sources = Sources.load()
        self._lock = threading.Lock()  # guards the caches below
        self._index_work = threading.Lock()  # one index build (preview or publish) at a time: 2 cores
        self._files: Optional[Tuple[Stamp, Corpus]] = None
        self._preview: Optional[Tuple[str, Policy]] = None

    @property
    def corpus_dir(self) -> Path:
        return self.config.corpus_path()

    def files(self) -> Corpus:
        """The corpus as the files hold it now (CorpusError if a file is broken)."""
        stamp = _stamp(self.corpus_dir)
        with self._lock:
            if self._files is not None and self._files[0] == stamp:
                return self._files[1]
        corpus = load_corpus(self.corpus_dir)
        with self._lock:
            self._files = (stamp, corpus)
        return corpus

    def draft_corpus(self) -> Corpus:
        """The files with every draft applied: what a publish would make live."""
        return self.drafts.overlay(self.files())

    def problems(self, entry_id: str, entry: Optional[Entry]) -> List[Problem]:
        """The validator on the draft corpus with ``entry_id`` replaced by ``entry`` (None: retired).

        ``validate`` over the whole corpus spends a second or more grading all 521 entries' reading level, so
        it runs on the one entry alone (its own checks, and whether TSA's list or the fixed topics require
        that id with that kind: both per entry), while the checks between entries run on the whole corpus.
        """
        entries = {e.id: e for e in self.draft_corpus()}
        entries.pop(entry_id, None)
        if entry is not None:
            entries[entry.id] = entry
        corpus = Corpus(list(entries.values()), self.corpus_dir)
        alone = Corpus([entry] if entry is not None else [], self.corpus_dir)
        own = [p for p in validate(alone, self.sources) if p.entry_id == entry_id]
        return own + shared_aliases(corpus) + unknown_related(corpus)

    def _preview_policy(self) -> Policy:
        corpus = self.draft_corpus()
        key = corpus.fingerprint()
        with self._lock:
            if self._preview is not None and self._preview[0] == key:
                return self._preview[1]
        embedder, index_dir = self.embedder, self.config.index_path()
        with self._index_work:
            kb = load_saved(index_dir, corpus, embedder)  # no drafts and the live index is these files
            if kb is None:
                preview_dir = index_dir.with_name(index_dir.name + "-preview")
                kb = build_at(preview_dir, corpus, embedder, cache_path(index_dir))
        policy = Policy(kb, self.config.retrieval)
        with self._lock:
            self._preview = (key, policy)
        return policy

    def preview(self, question: str) -> Preview:
        policy = self._preview_policy()
        corpus = policy.kb.corpus
        outcome = policy.decide(question)
        return Preview(
            question=question,
            outcome=outcome,
            entry=corpus.by_id.get(outcome.entry_id or ""),
            choices=[corpus[c] for c in outcome.choices if c in corpus],
            candidates=[
                (c.entry_id, corpus[c.entry_id].title if c.entry_id in corpus else "", c.score)
                for c in outcome.candidates
            ],
        )

    def publish(self, author: str, reason: str, override: Optional[str]) -> DraftsPublished:
        with self._index_work:
            return publish_drafts(self.config, self.drafts, author, reason, override, embedder=self.embedder)
