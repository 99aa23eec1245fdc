"""Rasa's CountVectorsFeaturizer with sentence features only: our pipeline's classifier reads no other.

Rasa's featurizer makes two feature sets per message: one row per token (sequence features, for DIET,
the ResponseSelector, CRF entity extraction, TED end to end) and one row for the whole text (sentence
features). Our pipeline's only reader of features is the LogisticRegressionClassifier, which reads the
sentence row alone (``_create_X`` takes element 1 of ``get_sparse_features``). The sequence rows were
about half the featurizers' cost: on every traveler message, each token run through the vectorizer
again, for the character n-gram featurizer too.

Same vocabulary, same sentence rows (tests/test_sentence_count_vectors.py compares with Rasa's);
in config.yml under its own name, so that a pipeline which needs sequence features (DIET, a response
selector) is built with Rasa's ``CountVectorsFeaturizer`` instead.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import scipy.sparse
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.constants import DENSE_FEATURIZABLE_ATTRIBUTES
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer

Rows = List[Optional[scipy.sparse.spmatrix]]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class SentenceCountVectorsFeaturizer(CountVectorsFeaturizer):
    def _create_features(self, attribute: str, all_tokens: List[List[str]]) -> Tuple[Rows, Rows]:
        """Rasa's, with no sequence features: the sentence row built as Rasa builds it."""
        if not self.vectorizers.get(attribute):
            return [None], [None]
        sentences: Rows = []
        for tokens in all_tokens:
            if not tokens or attribute not in DENSE_FEATURIZABLE_ATTRIBUTES:
                sentences.append(None)
                continue
            row = self.vectorizers[attribute].transform([" ".join(tokens)])
            row.sort_indices()
            sentences.append(row.tocoo())
        return [None] * len(sentences), sentences
