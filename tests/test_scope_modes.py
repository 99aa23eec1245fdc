"""knowledge/scope.py: a class trained as several modes ("screening/written") is reported as one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge.scope import OFF_TOPIC, SCREENING, WRITTEN_SCREENING, ScopeClassifier


def test_modes_of_a_class_are_summed_into_it() -> None:
    scope = ScopeClassifier(
        [OFF_TOPIC, SCREENING, WRITTEN_SCREENING],
        np.zeros((3, 2), dtype=np.float32),
        np.log(np.array([0.2, 0.3, 0.5], dtype=np.float32)),
    )
    probs = scope.probabilities(np.ones(2, dtype=np.float32))
    assert set(probs) == {OFF_TOPIC, SCREENING}
    assert probs[SCREENING] == pytest.approx(0.8) and probs[OFF_TOPIC] == pytest.approx(0.2)


def test_training_keeps_the_modes_apart_and_they_survive_a_save(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    centres = {OFF_TOPIC: [1.0, 0.0, 0.0], SCREENING: [0.0, 1.0, 0.0], WRITTEN_SCREENING: [0.0, 0.0, 1.0]}
    labels = [label for label in centres for _ in range(20)]
    vectors = np.array([centres[label] for label in labels]) + rng.normal(0, 0.1, (len(labels), 3))
    scope = ScopeClassifier.train(vectors.astype(np.float32), labels)
    assert sorted(scope.classes) == sorted(centres)
    scope.save(tmp_path / "scope.npz")
    loaded = ScopeClassifier.load(tmp_path / "scope.npz")
    probs = loaded.probabilities(np.array([0.0, 0.0, 1.0], dtype=np.float32))
    assert set(probs) == {OFF_TOPIC, SCREENING} and probs[SCREENING] > 0.9
