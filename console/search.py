"""Corpus search for agents: find an entry to insert its answer into a reply.

A plain word match over titles, phrasings and answers is enough for a person
who knows what they are looking for, and keeps the console free of the
embedding model (seconds to load, hundreds of MB). The corpus is read once per
process; the console is restarted with the bot when the corpus changes.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import List, Optional

from knowledge.corpus import Corpus, load_corpus
from knowledge.schema import Entry

_WORD = re.compile(r"[a-z0-9]+")
_lock = threading.Lock()
_corpus: Optional[Corpus] = None


def corpus() -> Corpus:
    global _corpus
    with _lock:
        if _corpus is None:
            _corpus = load_corpus()
        return _corpus


@dataclass(frozen=True)
class Hit:
    entry: Entry
    score: float


def search(query: str, limit: int = 8) -> List[Hit]:
    words = set(_WORD.findall(query.lower()))
    if not words:
        return []
    hits = []
    for entry in corpus():
        title = set(_WORD.findall(entry.title.lower()))
        phrasings = set(_WORD.findall(" ".join(entry.phrasings).lower()))
        answer = set(_WORD.findall(entry.answer.lower()))
        score = sum(3.0 * (w in title) + 2.0 * (w in phrasings) + 1.0 * (w in answer) for w in words)
        if score:
            hits.append(Hit(entry, score / (6.0 * len(words))))
    hits.sort(key=lambda h: (-h.score, h.entry.id))
    return hits[:limit]


def entry(entry_id: str) -> Optional[Entry]:
    return corpus().by_id.get(entry_id)
