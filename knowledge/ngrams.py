"""Word and character n-gram TF-IDF features, saved and restored as plain arrays.

Why: the MiniLM vector alone blurs messages that share their topic but not their
purpose. "What is a good laptop for gaming", "diy oil change" and "what oil is
best for chicken" sit next to the laptop and cooking-oil entries, and the
vector-only scope classifier let them through to be answered. The scope
classifier reads these features beside the vector, so the words themselves count
("gaming", "diy", "best for" belong to other questions; "checkpoint", "carry on",
a brand on an FAQ entry to screening ones). Word 1-2-grams carry whole words;
character 2-4-grams within words carry typos and inflections ("insuln", "vapes").

The fitted vocabularies and IDF weights are stored in the index folder with the
classifier, as arrays (no pickles); restoring gives the same vectors.
"""

from __future__ import annotations

from typing import Dict, Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

# (name, analyzer, n-gram range, minimum number of training texts a term must occur in)
_KINDS = (("words", "word", (1, 2), 2), ("chars", "char_wb", (2, 4), 3))


def _vectorizer(analyzer: str, ngrams: tuple, **kw: object) -> TfidfVectorizer:
    return TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams, sublinear_tf=True, dtype=np.float32, **kw)


class NgramFeatures:
    """TF-IDF rows (unit length per block) for word and character n-grams, one block after the other."""

    def __init__(self, vectorizers: Dict[str, TfidfVectorizer]):
        self.vectorizers = vectorizers

    @classmethod
    def fit(cls, texts: Sequence[str]) -> NgramFeatures:
        return cls(
            {
                name: _vectorizer(analyzer, ngrams, min_df=min_df).fit(texts)
                for name, analyzer, ngrams, min_df in _KINDS
            }
        )

    @property
    def width(self) -> int:
        return sum(len(v.vocabulary_) for v in self.vectorizers.values())

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        return sparse.hstack([self.vectorizers[name].transform(texts) for name, *_ in _KINDS]).tocsr()

    def to_arrays(self) -> Dict[str, np.ndarray]:
        arrays: Dict[str, np.ndarray] = {}
        for name, vectorizer in self.vectorizers.items():
            arrays[f"{name}_terms"] = np.array(vectorizer.get_feature_names_out(), dtype=str)
            arrays[f"{name}_idf"] = vectorizer.idf_.astype(np.float64)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Dict[str, np.ndarray]) -> NgramFeatures:
        vectorizers = {}
        for name, analyzer, ngrams, _ in _KINDS:
            terms = [str(t) for t in arrays[f"{name}_terms"]]
            vectorizer = _vectorizer(analyzer, ngrams, vocabulary={t: i for i, t in enumerate(terms)})
            vectorizer.idf_ = np.asarray(arrays[f"{name}_idf"], dtype=np.float64)
            vectorizers[name] = vectorizer
        return cls(vectorizers)
