"""Vectors of texts already embedded, so a rebuild only embeds what changed.

Editing one entry changes the corpus fingerprint and triggers a rebuild; with
this cache the rebuild embeds that entry's few texts instead of all ~11,000.
Keyed by the model's fingerprint and each text's SHA-256; stored as one .npz
next to the index and replaced atomically.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np

logger = logging.getLogger(__name__)


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    def __init__(self, path: Optional[Path], model_fingerprint: str):
        """path None: an in-memory cache for one build."""
        self.path = path
        self.model = model_fingerprint
        self.vectors: Dict[str, np.ndarray] = {}
        self._load()

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            with np.load(self.path) as data:
                if str(data["model"]) != self.model:
                    return
                self.vectors = dict(zip((str(k) for k in data["keys"]), data["vectors"], strict=True))
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("embedding cache %s is unreadable (%s); starting empty", self.path, exc)

    def encode(self, texts: List[str], encode_missing: Callable[[List[str]], np.ndarray]) -> np.ndarray:
        """Vectors for texts in order, calling encode_missing only for texts not seen before."""
        keys = [text_key(t) for t in texts]
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in self.vectors))
        if missing:
            for text, vector in zip(missing, encode_missing(missing), strict=True):
                self.vectors[text_key(text)] = vector
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.vstack([self.vectors[k] for k in keys]).astype(np.float32)

    def save(self, keep: List[str]) -> None:
        """Write the vectors of the texts in keep (the current build), dropping stale ones."""
        if self.path is None:
            return
        keys = sorted({text_key(t) for t in keep} & set(self.vectors))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        vectors = np.vstack([self.vectors[k] for k in keys]) if keys else np.zeros((0, 1), np.float32)
        np.savez(tmp, model=np.array(self.model), keys=np.array(keys), vectors=vectors)
        os.replace(tmp, self.path)
