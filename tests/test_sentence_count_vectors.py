"""bot/sentence_count_vectors.py: the sentence rows Rasa's CountVectorsFeaturizer gives, and nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Type

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bench.load import QUESTIONS
from bot.sentence_count_vectors import SentenceCountVectorsFeaturizer

TRAINING = [
    ("can i bring my power bank", "ask_question"),
    ("are knives allowed in carry-on bags", "ask_question"),
    ("hello there", "greet"),
    ("thanks a lot", "thank"),
    ("I want to talk to a person", "human_request"),
]
CONFIGS = [{}, {"analyzer": "char_wb", "min_ngram": 2, "max_ngram": 4}]  # config.yml's two featurizers


def _tokenized(texts: List[str], intents: List[str]) -> List[Message]:
    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    pairs = zip(texts, intents, strict=True)
    messages = [Message.build(text=t, intent=i) if i else Message.build(text=t) for t, i in pairs]
    tokenizer.process(messages)
    return messages


def _trained(kind: Type[CountVectorsFeaturizer], config: Dict[str, Any], tmp_path: Path) -> Any:
    (tmp_path / kind.__name__).mkdir()
    storage = LocalModelStorage(tmp_path / kind.__name__)
    context = ExecutionContext(GraphSchema({}), "test")
    featurizer = kind.create({**kind.get_default_config(), **config}, storage, Resource("cv"), context)
    texts, intents = [t for t, _ in TRAINING], [i for _, i in TRAINING]
    featurizer.train(TrainingData(_tokenized(texts, intents)))
    return featurizer


@pytest.mark.parametrize("config", CONFIGS)
def test_the_sentence_rows_are_rasas_and_no_token_rows_are_made(
    config: Dict[str, Any], tmp_path: Path
) -> None:
    ours = _trained(SentenceCountVectorsFeaturizer, config, tmp_path)
    theirs = _trained(CountVectorsFeaturizer, config, tmp_path)
    texts = [*QUESTIONS, "", "zzz unseen words only"]
    mine, reference = _tokenized(texts, [""] * len(texts)), _tokenized(texts, [""] * len(texts))
    ours.process(mine)
    theirs.process(reference)
    for text, a, b in zip(texts, mine, reference, strict=True):
        sequence, sentence = a.get_sparse_features(TEXT)
        expected_sequence, expected_sentence = b.get_sparse_features(TEXT)
        assert sequence is None and (expected_sequence is not None or not text)
        if expected_sentence is None:
            assert sentence is None
            continue
        assert sentence is not None and sentence.features.shape == expected_sentence.features.shape
        assert (sentence.features.toarray() == expected_sentence.features.toarray()).all(), text
