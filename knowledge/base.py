"""The built knowledge base: corpus + vector index + scope classifier.

Building embeds about 15,000 sentences (a minute or two on two cores; texts
embedded before come from an embedding cache), so the result is saved under
``index_dir`` with a fingerprint of everything it was built from (corpus
content, scope examples, model weights, format). It is rebuilt only when that
fingerprint changes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
from tqdm import tqdm

from knowledge.corpus import Corpus, load_corpus
from knowledge.embedder import Embedder
from knowledge.embedding_cache import EmbeddingCache
from knowledge.index import EntryIndex, Row
from knowledge.scope import (
    SCREENING,
    WRITTEN_SCREENING,
    ScopeClassifier,
    labelled_examples,
    training_fingerprint,
)

logger = logging.getLogger(__name__)
FORMAT_VERSION = "4"
BATCH = 64


@dataclass
class KnowledgeBase:
    corpus: Corpus
    index: EntryIndex
    scope: ScopeClassifier
    embedder: Embedder
    fingerprint: str


def _fingerprint(corpus: Corpus, scope_pairs: List[Tuple[str, str]], embedder: Embedder) -> str:
    parts = [FORMAT_VERSION, corpus.fingerprint(), training_fingerprint(scope_pairs), embedder.fingerprint()]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _encode_with_progress(embedder: Embedder, texts: List[str], label: str, progress: bool) -> np.ndarray:
    chunks = []
    bar = tqdm(total=len(texts), desc=label, unit="text", disable=not progress)
    for start in range(0, len(texts), BATCH * 4):
        batch = texts[start : start + BATCH * 4]
        chunks.append(embedder.encode(batch, batch_size=BATCH))
        bar.update(len(batch))
    bar.close()
    return np.vstack(chunks) if chunks else np.zeros((0, embedder.dimension), dtype=np.float32)


# The scope class each kind of index row trains (a bare alias trains none: see build()).
SCOPE_OF_ROW = {Row.QUESTION: SCREENING, Row.CHAT: WRITTEN_SCREENING}


def screening_rows(kinds: List[Row]) -> List[Tuple[int, str]]:
    """(row number, scope label) of the index rows that are screening examples."""
    return [(n, SCOPE_OF_ROW[kind]) for n, kind in enumerate(kinds) if kind in SCOPE_OF_ROW]


def scope_training_key(corpus: Corpus, pairs: List[Tuple[str, str]], embedder: Embedder) -> str:
    """Everything the scope classifier is trained from: the questions, the other classes, the model."""
    texts, _, kinds = EntryIndex.rows_for(corpus)
    screening = [(texts[n], label) for n, label in screening_rows(kinds)]
    return training_fingerprint([*screening, *pairs, (embedder.fingerprint(), "model")])


def build(
    corpus: Corpus,
    embedder: Embedder,
    progress: bool = True,
    cache: Optional[EmbeddingCache] = None,
    previous: Optional[KnowledgeBase] = None,
) -> Tuple[EntryIndex, ScopeClassifier]:
    """Embed (new texts only, with a cache) and index the corpus; train the scope classifier.

    With ``previous`` (the live version when publishing), its scope classifier is reused when it was
    trained from exactly the same questions: training is deterministic, so an edit that leaves every
    question alone (an answer, a status, a date, an alias) would only train the same classifier again,
    and training is most of a one-entry publication's time.
    """
    cache = cache or EmbeddingCache(None, embedder.fingerprint())
    texts, owners, kinds = EntryIndex.rows_for(corpus)
    vectors = cache.encode(
        texts, lambda todo: _encode_with_progress(embedder, todo, "Embedding FAQ phrasings", progress)
    )
    index = EntryIndex(vectors, owners)
    pairs = labelled_examples()
    scope_texts = [t for t, _ in pairs]
    other_vectors = cache.encode(
        scope_texts, lambda todo: _encode_with_progress(embedder, todo, "Embedding scope examples", progress)
    )
    cache.save(texts + scope_texts)
    key = scope_training_key(corpus, pairs, embedder)
    if previous is not None and scope_training_key(previous.corpus, pairs, previous.embedder) == key:
        return index, previous.scope
    # The screening class learns from the questions only: thousands of bare
    # brand names would outweigh them and make real questions look off-topic.
    rows = screening_rows(kinds)
    screening = vectors[[n for n, _ in rows]]
    screening_texts = [texts[n] for n, _ in rows]
    labels = [label for _, label in rows] + [label for _, label in pairs]
    scope = ScopeClassifier.train(
        np.vstack([screening, other_vectors]), screening_texts + scope_texts, labels
    )
    return index, scope


def _save(directory: Path, fingerprint: str, index: EntryIndex, scope: ScopeClassifier) -> None:
    """Write into a temporary sibling and rename, so readers never see half a build."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".index-", dir=directory.parent))
    np.save(staging / "vectors.npy", index.vectors)
    (staging / "rows.json").write_text(json.dumps(index.row_entry), encoding="utf-8")
    scope.save(staging / "scope.npz")
    (staging / "meta.json").write_text(json.dumps({"fingerprint": fingerprint}), encoding="utf-8")
    old = directory.with_name(directory.name + ".old")
    if directory.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(directory, old)
    os.replace(staging, directory)
    shutil.rmtree(old, ignore_errors=True)


def _load_saved(directory: Path, fingerprint: str) -> Optional[Tuple[EntryIndex, ScopeClassifier]]:
    meta = directory / "meta.json"
    if not meta.exists():
        return None
    try:
        if json.loads(meta.read_text(encoding="utf-8")).get("fingerprint") != fingerprint:
            return None
        vectors = np.load(directory / "vectors.npy")
        rows = json.loads((directory / "rows.json").read_text(encoding="utf-8"))
        return EntryIndex(vectors, rows), ScopeClassifier.load(directory / "scope.npz")
    except (OSError, ValueError, KeyError) as exc:
        logger.warning("saved index at %s is unreadable (%s); rebuilding", directory, exc)
        return None


def load_or_build(
    directory: Path,
    corpus: Optional[Corpus] = None,
    embedder: Optional[Embedder] = None,
    progress: bool = True,
    force: bool = False,
) -> KnowledgeBase:
    """The knowledge base for the current corpus, built only if it changed."""
    corpus = corpus or load_corpus()
    embedder = embedder or Embedder()
    fingerprint = _fingerprint(corpus, labelled_examples(), embedder)
    saved = None if force else _load_saved(directory, fingerprint)
    if saved is None:
        started = time.monotonic()
        logger.info("building the index for %d entries", len(corpus))
        cache_file = directory.with_name(directory.name + "-embeddings.npz")
        cache = EmbeddingCache(cache_file, embedder.fingerprint())
        saved = build(corpus, embedder, progress, cache)
        _save(directory, fingerprint, *saved)
        logger.info("index built in %.1f s", time.monotonic() - started)
    index, scope = saved
    return KnowledgeBase(corpus, index, scope, embedder, fingerprint)
