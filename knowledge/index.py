"""FAISS index over every entry's title, example phrasings and aliases.

Each entry contributes several rows (its title and each phrasing); a search
returns entries scored by their best-matching row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import faiss
import numpy as np

from knowledge.corpus import Corpus
from knowledge.schema import Entry, Kind


def question_texts(entry: Entry) -> List[str]:
    """The entry's title and the questions travelers ask about it (also the scope classifier's examples)."""
    texts = [entry.title, *entry.phrasings]
    if entry.kind == Kind.ITEM:
        texts.append(f"Can I bring {entry.title.lower()} on a plane?")
    return texts


def entry_texts(entry: Entry) -> List[str]:
    """Every text a traveler's question is compared with for one entry: questions first, then aliases.

    An alias is indexed alone and, for items, inside the same question a
    traveler would ask ("Can I bring Raid on a plane?").
    """
    texts = question_texts(entry) + list(entry.aliases)
    if entry.kind == Kind.ITEM:
        texts.extend(f"Can I bring {alias.lower()} on a plane?" for alias in entry.aliases)
    return texts


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
    def rows_for(corpus: Corpus) -> Tuple[List[str], List[str], List[bool]]:
        """Texts to index, the entry owning each, and whether each is a question (not a bare alias)."""
        texts: List[str] = []
        owners: List[str] = []
        questions: List[bool] = []
        for entry in corpus:
            asked = question_texts(entry)
            for number, text in enumerate(entry_texts(entry)):
                texts.append(text)
                owners.append(entry.id)
                questions.append(number < len(asked))
        return texts, owners, questions

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
