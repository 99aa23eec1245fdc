"""The editors' review queue: what travelers asked that the corpus did not answer well, grouped.

A question joins the queue when the bot handed it to a person, declined it,
had to ask which entry was meant, or when a traveler voted its answer "not
helpful". Questions that say the same thing in other words are grouped by
meaning: each distinct text is embedded with the same MiniLM model the bot
searches with, and average-linkage agglomerative clustering joins texts while
their mean cosine distance stays under a threshold, so the number of groups
follows the data instead of being fixed in advance. Each group comes with how
often it was asked, when last, a few examples and the entries the bot weighed,
which is what an editor needs to decide between a new entry and more phrasings
for an existing one.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
from sklearn.cluster import AgglomerativeClustering

from knowledge.embedder import Embedder
from knowledge.embedding_cache import EmbeddingCache
from travelbot.conversation_log import ConversationLog
from travelbot.redaction import PLACEHOLDERS

REVIEWED_DECISIONS = frozenset({"handoff", "decline", "clarify"})
# Turns the corpus must not answer: small talk, empty messages, and security-sensitive ones (threats,
# evading screening), which always go to a person and must never become an entry.
NOT_FOR_THE_CORPUS = frozenset({"smalltalk", "empty", "sensitive"})
DEFAULT_DISTANCE = 0.5  # cosine distance; MiniLM paraphrases of one question mostly sit below it
MAX_EXAMPLES = 5
MAX_ENTRIES = 5
MAX_DISTINCT_TEXTS = 3000  # the newest ones; bounds the O(n^2) distance matrix
MAX_CACHED_VECTORS = 50_000
MAX_PHRASING_CHARS = 200
ORDERS = ("largest", "newest")


@dataclass(frozen=True)
class Item:
    """One question an editor should see: redacted text, where and when, why it is here."""

    text: str
    channel: str
    asked_at: dt.datetime
    why: str  # "handoff: low_confidence", "decline: no_match", "clarify: close_candidates", "thumbs down"
    entries: Tuple[str, ...] = ()  # the entries the bot considered, best first
    handoff_id: Optional[int] = None


def _key(text: str) -> str:
    return " ".join(text.lower().split())


@dataclass(frozen=True)
class Cluster:
    items: Tuple[Item, ...]  # newest first

    @property
    def size(self) -> int:
        return len(self.items)

    @property
    def newest(self) -> dt.datetime:
        return self.items[0].asked_at

    @property
    def examples(self) -> List[Item]:
        """Up to five items with different wording, newest first."""
        seen: Dict[str, Item] = {}
        for item in self.items:
            seen.setdefault(_key(item.text), item)
        return list(seen.values())[:MAX_EXAMPLES]

    @property
    def label(self) -> str:
        return self.examples[0].text

    @property
    def entries(self) -> List[Tuple[str, int]]:
        """The entries the bot considered for these questions, most often first."""
        counts = Counter(entry for item in self.items for entry in item.entries)
        return counts.most_common(MAX_ENTRIES)

    @property
    def reasons(self) -> List[Tuple[str, int]]:
        return Counter(item.why for item in self.items).most_common()

    @property
    def phrasings(self) -> List[str]:
        """Example texts fit to become an entry's phrasings (none with a redaction placeholder in it)."""
        return [
            e.text.strip()
            for e in self.examples
            if not any(p in e.text for p in PLACEHOLDERS) and len(e.text.strip()) <= MAX_PHRASING_CHARS
        ]


def group_labels(vectors: np.ndarray, distance: float) -> np.ndarray:
    """A group number per (unit-length) vector; a group's members lie within ``distance`` on average."""
    if len(vectors) < 2:
        return np.zeros(len(vectors), dtype=int)
    model = AgglomerativeClustering(
        n_clusters=None, affinity="cosine", linkage="average", distance_threshold=distance
    )
    return np.asarray(model.fit_predict(vectors))


def ordered(clusters: List[Cluster], order: str = "largest") -> List[Cluster]:
    """``largest``: most asked first, the more recent of equal ones first; ``newest``: the other way round."""
    if order == "newest":
        return sorted(clusters, key=lambda c: (c.newest, c.size), reverse=True)
    return sorted(clusters, key=lambda c: (c.size, c.newest), reverse=True)


class ReviewQueue:
    """Builds the queue from the conversation log; one per process (it holds the loaded model)."""

    def __init__(self, log: ConversationLog, embedder: Embedder, distance: float = DEFAULT_DISTANCE):
        self.log = log
        self.embedder = embedder
        self.distance = distance
        self._cache = EmbeddingCache(None, embedder.fingerprint())
        self._lock = threading.Lock()

    def items(self, since: dt.datetime) -> List[Item]:
        questions = [
            q
            for q in self.log.questions(since, REVIEWED_DECISIONS)
            if q.reason not in NOT_FOR_THE_CORPUS and q.text.strip()
        ]
        candidates = self.log.handoff_candidates([q.handoff_id for q in questions if q.handoff_id])
        found = [
            Item(
                text=q.text,
                channel=q.channel,
                asked_at=q.asked_at,
                why=f"{q.decision}: {q.reason}",
                entries=tuple(candidates.get(q.handoff_id, [])[:3]) if q.handoff_id else q.choices,
                handoff_id=q.handoff_id,
            )
            for q in questions
        ]
        found += [
            Item(v.question, v.channel, v.voted_at, "thumbs down", (v.entry_id,))
            for v in self.log.thumbs_down(since)
        ]
        return sorted(found, key=lambda i: i.asked_at, reverse=True)

    def _vectors(self, texts: List[str]) -> np.ndarray:
        with self._lock:
            if len(self._cache.vectors) > MAX_CACHED_VECTORS:
                self._cache.vectors.clear()
            return self._cache.encode(texts, lambda missing: self.embedder.encode(missing))

    def clusters(self, since: dt.datetime, order: str = "largest") -> List[Cluster]:
        items = self.items(since)  # newest first, so every group's items are too
        distinct = list(dict.fromkeys(_key(i.text) for i in items))[:MAX_DISTINCT_TEXTS]
        labels = dict(zip(distinct, group_labels(self._vectors(distinct), self.distance), strict=True))
        members: Dict[int, List[Item]] = {}
        for item in items:
            label = labels.get(_key(item.text))
            if label is not None:
                members.setdefault(int(label), []).append(item)
        return ordered([Cluster(tuple(m)) for m in members.values()], order)
