"""FAISS index over every entry's title, example phrasings (short, and as written in a chat) and aliases.

Each entry contributes several rows (its title and each phrasing); a search
returns entries scored by their best-matching row.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Dict, List, Sequence, Tuple

import faiss
import numpy as np

from knowledge.corpus import Corpus
from knowledge.schema import Entry, Kind


class Row(str, Enum):
    """What an index row is: a short question, a question as written in a chat, or a bare name."""

    QUESTION = "question"
    CHAT = "chat"
    ALIAS = "alias"


def question_texts(entry: Entry) -> List[str]:
    """The entry's title and the questions travelers ask about it (also the scope classifier's examples)."""
    texts = [entry.title, *entry.phrasings]
    if entry.kind == Kind.ITEM:
        texts.append(f"Can I bring {entry.title.lower()} on a plane?")
    return texts


def entry_rows(entry: Entry) -> List[Tuple[str, Row]]:
    """Every text a traveler's question is compared with for one entry, and what kind of row it is.

    Short questions first, then the chat phrasings, then aliases.
    An alias is indexed alone and, for items, inside the same question a
    traveler would ask ("Can I bring Raid on a plane?").
    """
    rows = [(text, Row.QUESTION) for text in question_texts(entry)]
    rows.extend((text, Row.CHAT) for text in entry.chat_phrasings)
    rows.extend((alias, Row.ALIAS) for alias in entry.aliases)
    if entry.kind == Kind.ITEM:
        rows.extend((f"Can I bring {alias.lower()} on a plane?", Row.ALIAS) for alias in entry.aliases)
    return rows


@dataclass(frozen=True)
class Candidate:
    entry_id: str
    score: float


class EntryIndex:
    """Inner-product search over unit vectors, aggregated to entries."""

    def __init__(self, vectors: np.ndarray, row_entry: Sequence[str]):
        if len(vectors) != len(row_entry):
            raise ValueError("one entry id per vector row is required")
        self.row_entry: List[str] = list(row_entry)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.faiss = faiss.IndexFlatIP(self.vectors.shape[1])
        self.faiss.add(self.vectors)

    @staticmethod
    def rows_for(corpus: Corpus) -> Tuple[List[str], List[str], List[Row]]:
        """Texts to index, the entry owning each, and what kind of row each is."""
        texts: List[str] = []
        owners: List[str] = []
        kinds: List[Row] = []
        for entry in corpus:
            for text, kind in entry_rows(entry):
                texts.append(text)
                owners.append(entry.id)
                kinds.append(kind)
        return texts, owners, kinds

    def search(self, query: np.ndarray, k: int = 40) -> List[Candidate]:
        """Entries by best row score, best first."""
        k = min(k, len(self.row_entry))
        scores, rows = self.faiss.search(query.reshape(1, -1).astype(np.float32), k)
        best: Dict[str, float] = {}
        for score, row in zip(scores[0], rows[0], strict=True):
            if row < 0:
                continue
            entry_id = self.row_entry[row]
            if entry_id not in best:
                best[entry_id] = float(score)
        return [Candidate(e, s) for e, s in sorted(best.items(), key=lambda kv: -kv[1])]
