"""A publication reuses the live scope classifier when the entries' questions did not change."""

from __future__ import annotations

import numpy as np

from knowledge.base import build, scope_training_key
from knowledge.corpus import Corpus
from knowledge.embedding_cache import EmbeddingCache
from knowledge.policy import Policy
from knowledge.publish import cache_path
from knowledge.scope import labelled_examples
from travelbot.settings import settings


def _edited(corpus: Corpus, entry_id: str, **changes: object) -> Corpus:
    entries = [e.copy(update=changes) if e.id == entry_id else e for e in corpus]
    return Corpus(entries, corpus.root)


def test_training_key_ignores_answers_but_not_questions(policy: Policy) -> None:
    kb = policy.kb
    pairs = labelled_examples()
    key = scope_training_key(kb.corpus, pairs, kb.embedder)
    entry = kb.corpus["smart-luggage"]
    answer_only = _edited(kb.corpus, entry.id, answer=entry.answer + "\n\nEdited.")
    assert scope_training_key(answer_only, pairs, kb.embedder) == key
    new_question = _edited(kb.corpus, entry.id, phrasings=[*entry.phrasings, "is my smart bag ok"])
    assert scope_training_key(new_question, pairs, kb.embedder) != key


def test_build_reuses_or_retrains(policy: Policy) -> None:
    kb = policy.kb
    cache = EmbeddingCache(None, kb.embedder.fingerprint())  # in memory: the live cache file stays as it is
    cache.vectors.update(
        EmbeddingCache(cache_path(settings().index_path()), kb.embedder.fingerprint()).vectors
    )
    entry = kb.corpus["smart-luggage"]
    answer_only = _edited(kb.corpus, entry.id, answer=entry.answer + "\n\nEdited.")
    _, reused = build(answer_only, kb.embedder, progress=False, cache=cache, previous=kb)
    assert reused is kb.scope
    retrained_corpus = _edited(kb.corpus, entry.id, phrasings=[*entry.phrasings, "is my smart bag ok"])
    _, retrained = build(retrained_corpus, kb.embedder, progress=False, cache=cache, previous=kb)
    assert retrained is not kb.scope and retrained.classes == kb.scope.classes
    assert not np.array_equal(retrained.coef, kb.scope.coef)
