"""The answering path's embeddings (ONNX Runtime) are sentence-transformers' own (PyTorch), text for text."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from knowledge.embedder import Embedder

TEXTS = [
    "can i bring my power bank in checked luggage",
    "TSA PreCheck?",
    "is a 3.4 oz bottle of shampoo ok",
    "🔋🔋 on the plane??",
    "¿Puedo llevar mi cargador portátil? 我可以带充电宝吗",
    "<script>alert(1)</script> lighter",
    "hi",
    "knife " * 400,  # past the model's 256-token limit: both truncate the same way
]


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    return Embedder(onnx_dir=tmp_path_factory.mktemp("onnx"))


def test_single_messages_get_the_vectors_sentence_transformers_gives(embedder: Embedder) -> None:
    batch = embedder.encode(TEXTS)
    for text, expected in zip(TEXTS, batch, strict=True):
        single = embedder.encode_one(text)
        assert single.dtype == np.float32 and single.shape == (Embedder.dimension,)
        assert abs(float(np.linalg.norm(single)) - 1.0) < 1e-5
        assert float(np.dot(single, expected)) > 0.99999, text


def test_the_model_is_exported_once_and_reused(embedder: Embedder) -> None:
    graph = embedder.single_encoder().graph
    assert graph.parent == embedder.onnx_dir and graph.exists()
    exported = graph.stat().st_mtime_ns
    again = Embedder(onnx_dir=embedder.onnx_dir)
    assert again.single_encoder().graph == graph
    assert graph.stat().st_mtime_ns == exported
    assert sorted(p.name for p in Path(graph.parent).iterdir() if not p.name.startswith(".")) == [graph.name]


def test_threads_can_be_changed_without_changing_the_vectors(embedder: Embedder) -> None:
    before = embedder.encode_one(TEXTS[0])
    embedder.set_threads(2)
    embedder.set_threads(1)
    assert np.array_equal(before, embedder.encode_one(TEXTS[0]))


def test_answering_from_an_exported_graph_needs_no_pytorch(embedder: Embedder) -> None:
    """The action server answers without importing PyTorch or sentence-transformers (start time, memory)."""
    embedder.single_encoder()  # exported
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from knowledge.embedder import Embedder\n"
        f"vector = Embedder(onnx_dir=Path({str(embedder.onnx_dir)!r})).encode_one({TEXTS[0]!r})\n"
        "print(' '.join(repr(float(x)) for x in vector))\n"
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    vector_line, loaded = out.strip().splitlines()[-2:]
    assert loaded == "[]"
    vector = np.array([float(x) for x in vector_line.split()], dtype=np.float32)
    assert float(np.dot(vector, embedder.encode([TEXTS[0]])[0])) > 0.99999
