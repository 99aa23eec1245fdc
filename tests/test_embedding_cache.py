from pathlib import Path
from typing import List

import numpy as np

from knowledge.embedding_cache import EmbeddingCache


class CountingEncoder:
    """Deterministic stand-in for the model's arithmetic; counts what it is asked to embed."""

    def __init__(self) -> None:
        self.asked: List[str] = []

    def __call__(self, texts: List[str]) -> np.ndarray:
        self.asked.extend(texts)
        return np.array([[len(t), t.count("a"), 1.0] for t in texts], dtype=np.float32)


def test_only_new_texts_are_embedded_and_stale_ones_dropped(tmp_path: Path) -> None:
    path = tmp_path / "cache.npz"
    encoder = CountingEncoder()
    cache = EmbeddingCache(path, "model-1")
    first = cache.encode(["alpha", "beta", "alpha"], encoder)
    assert encoder.asked == ["alpha", "beta"]
    assert first.shape == (3, 3) and (first[0] == first[2]).all()
    cache.save(["alpha", "beta"])

    encoder.asked.clear()
    again = EmbeddingCache(path, "model-1")
    vectors = again.encode(["beta", "gamma"], encoder)
    assert encoder.asked == ["gamma"]
    assert (vectors[0] == first[1]).all()
    again.save(["gamma"])
    assert len(EmbeddingCache(path, "model-1").vectors) == 1  # only "gamma" is kept


def test_another_model_starts_from_scratch(tmp_path: Path) -> None:
    path = tmp_path / "cache.npz"
    cache = EmbeddingCache(path, "model-1")
    cache.encode(["alpha"], CountingEncoder())
    cache.save(["alpha"])
    encoder = CountingEncoder()
    EmbeddingCache(path, "model-2").encode(["alpha"], encoder)
    assert encoder.asked == ["alpha"]
