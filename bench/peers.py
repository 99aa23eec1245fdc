"""The simple peers of the full decision path: BM25 and plain MiniLM 1-NN.

Both see exactly the texts our index holds for each entry (title, phrasings and
the "Can I bring ...?" form of an item) and return their best entry with a
score; a threshold on that score decides answer / no answer.
"""

from __future__ import annotations

import re
import time
from typing import Dict, List, Tuple

import numpy as np
from rank_bm25 import BM25Okapi
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from bench.devset import Prediction
from knowledge.base import KnowledgeBase
from knowledge.corpus import Corpus
from knowledge.index import EntryIndex

_WORD = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> List[str]:
    """Lower-cased words without English stop words (scikit-learn's list)."""
    return [w for w in _WORD.findall(text.lower()) if w not in ENGLISH_STOP_WORDS]


class BM25Peer:
    """Okapi BM25 (rank-bm25) over one document per entry or one per phrasing.

    ``per_entry=True`` joins an entry's texts into one document (the usual FAQ
    set-up); otherwise each text is its own document and an entry scores by its
    best one, as our embedding index does.
    """

    def __init__(self, corpus: Corpus, per_entry: bool = True):
        rows = EntryIndex.rows_for(corpus)  # texts and owners first; later fields vary
        texts, owners = list(rows[0]), list(rows[1])
        if per_entry:
            joined: Dict[str, List[str]] = {}
            for text, owner in zip(texts, owners, strict=True):
                joined.setdefault(owner, []).append(text)
            owners = list(joined)
            texts = [" ".join(joined[o]) for o in owners]
        self.owners = owners
        self.bm25 = BM25Okapi([tokens(t) or ["_"] for t in texts])

    def best(self, text: str) -> Tuple[str, float]:
        scores = self.bm25.get_scores(tokens(text))
        row = int(np.argmax(scores))
        return self.owners[row], float(scores[row])

    def predict(self, text: str) -> Prediction:
        started = time.perf_counter()
        entry_id, score = self.best(text)
        return Prediction(entry_id, score, True, (time.perf_counter() - started) * 1000)


class NearestPeer:
    """The project's MiniLM embeddings and FAISS index, 1-NN, without our policy."""

    def __init__(self, kb: KnowledgeBase):
        self.kb = kb

    def predict(self, text: str) -> Prediction:
        started = time.perf_counter()
        found = self.kb.index.search(self.kb.embedder.encode_one(text), k=1)
        elapsed = (time.perf_counter() - started) * 1000
        if not found:
            return Prediction(None, 0.0, False, elapsed)
        return Prediction(found[0].entry_id, found[0].score, True, elapsed)
