"""knowledge/scope.py: modes of a class are reported as one; the n-gram half reads words the vector blurs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge.ngrams import NgramFeatures
from knowledge.scope import OFF_TOPIC, OTHER_AGENCY, SCREENING, WRITTEN_SCREENING, ScopeClassifier


def test_modes_of_a_class_are_summed_into_it() -> None:
    ngrams = NgramFeatures.fit(["can i bring a knife", "can i bring a lighter", "what about a knife"])
    scope = ScopeClassifier(
        [OFF_TOPIC, SCREENING, WRITTEN_SCREENING],
        np.zeros((3, 2 + ngrams.width), dtype=np.float32),
        np.log(np.array([0.2, 0.3, 0.5], dtype=np.float32)),
        ngrams,
        2,
    )
    probs = scope.probabilities(np.ones(2, dtype=np.float32), "can i bring a knife")
    assert set(probs) == {OFF_TOPIC, SCREENING}
    assert probs[SCREENING] == pytest.approx(0.8) and probs[OFF_TOPIC] == pytest.approx(0.2)


def test_training_keeps_the_modes_apart_and_they_survive_a_save(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    centres = {OFF_TOPIC: [1.0, 0.0, 0.0], SCREENING: [0.0, 1.0, 0.0], WRITTEN_SCREENING: [0.0, 0.0, 1.0]}
    labels = [label for label in centres for _ in range(20)]
    texts = [f"message number {i}" for i in range(len(labels))]
    vectors = np.array([centres[label] for label in labels]) + rng.normal(0, 0.1, (len(labels), 3))
    scope = ScopeClassifier.train(vectors.astype(np.float32), texts, labels)
    assert sorted(scope.classes) == sorted(centres)
    scope.save(tmp_path / "scope.npz")
    loaded = ScopeClassifier.load(tmp_path / "scope.npz")
    probs = loaded.probabilities(np.array([0.0, 0.0, 1.0], dtype=np.float32), "message number 7")
    assert set(probs) == {OFF_TOPIC, SCREENING} and probs[SCREENING] > 0.9


def test_a_word_decides_where_the_vectors_are_the_same(tmp_path: Path) -> None:
    """Every vector is identical: only the words ("ktn" against "frequent flyer") can separate the classes."""
    screening = [
        f"how do i add my ktn to my {a} {b}"
        for a in ("delta", "united", "jetblue")
        for b in ("trip", "ticket")
    ]
    airline = [
        f"how do i add my frequent flyer number to my {a} {b}"
        for a in ("delta", "united", "jetblue")
        for b in ("trip", "ticket")
    ]
    texts = screening + airline
    labels = [SCREENING] * len(screening) + [OTHER_AGENCY] * len(airline)
    vectors = np.ones((len(texts), 4), dtype=np.float32)
    scope = ScopeClassifier.train(vectors, texts, labels, c=10.0)
    scope.save(tmp_path / "scope.npz")
    loaded = ScopeClassifier.load(tmp_path / "scope.npz")
    for classifier in (scope, loaded):
        asked = classifier.probabilities(
            np.ones(4, dtype=np.float32), "where does my ktn go on an alaska booking"
        )
        airline_asked = classifier.probabilities(
            np.ones(4, dtype=np.float32), "frequent flyer number on alaska"
        )
        assert asked[SCREENING] > 0.5 > airline_asked[SCREENING]
    assert loaded.probabilities(np.ones(4, dtype=np.float32), "ktn") == pytest.approx(
        scope.probabilities(np.ones(4, dtype=np.float32), "ktn")
    )


def test_training_needs_a_text_and_a_label_per_vector() -> None:
    with pytest.raises(ValueError, match="one text and one label per vector"):
        ScopeClassifier.train(np.ones((3, 2), dtype=np.float32), ["a", "b"], [SCREENING] * 3)


def test_ngram_features_restored_from_arrays_give_the_same_rows() -> None:
    texts = [
        "can i bring my dexcom thru the body scanner",
        "insuln pens in carry on",
        "vapes in checked bags",
    ]
    fitted = NgramFeatures.fit(texts * 3)
    restored = NgramFeatures.from_arrays(fitted.to_arrays())
    asked = ["dexcom pens in the scanner", "vape"]
    assert restored.width == fitted.width
    assert abs(fitted.transform(asked) - restored.transform(asked)).max() < 1e-6
