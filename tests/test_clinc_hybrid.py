"""bench/clinc_hybrid.py: word and character evidence beside the dense vector, OOS one more class."""

from __future__ import annotations

import numpy as np

from bench.clinc_hybrid import HybridFeatures, fit_hybrid
from bench.clinc_scoring import OOS

# Two intents whose dense vectors are identical: only the words can tell them apart.
TEXTS = [
    "what is my credit limit",
    "tell me my credit limit",
    "how high is my credit limit",
    "what is my credit score",
    "tell me my credit score",
    "how good is my credit score",
    "how do i bake bread",
    "who won the world cup",
]
LABELS = np.array([0, 0, 0, 1, 1, 1, OOS, OOS])


def same_vectors(count: int) -> np.ndarray:
    vectors = np.zeros((count, 4), dtype=np.float32)
    vectors[:, 0] = 1.0
    return vectors


def test_words_separate_what_the_dense_vectors_blur() -> None:
    features = HybridFeatures(TEXTS)
    scorer = fit_hybrid(features(TEXTS, same_vectors(len(TEXTS))), LABELS, alpha=1e-4)
    queries = ["could you tell me my credit limit", "what's my credit score now"]
    pred, conf, margin = scorer(features(queries, same_vectors(2)))
    assert list(pred) == [0, 1]
    assert np.all((conf > 0.5) & (conf <= 1.0)) and np.all(margin > 0)


def test_the_oos_class_is_never_answered() -> None:
    features = HybridFeatures(TEXTS)
    scorer = fit_hybrid(features(TEXTS, same_vectors(len(TEXTS))), LABELS, alpha=1e-4)
    pred, conf, _ = scorer(features(["how do i bake bread at home"], same_vectors(1)))
    assert pred[0] == OOS and conf[0] == -np.inf


def test_the_dense_block_is_weighted_beside_the_tfidf_blocks() -> None:
    features = HybridFeatures(TEXTS)
    rows = features(TEXTS[:1], same_vectors(1)).toarray()
    assert rows.shape[1] == 4 + len(features.words.vocabulary_) + len(features.chars.vocabulary_)
    assert rows[0, 0] == 2.0  # DENSE_WEIGHT times the unit vector
