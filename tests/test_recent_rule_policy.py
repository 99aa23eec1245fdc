"""bot/recent_rule_policy.py predicts what RulePolicy predicts from the whole conversation."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Iterator, List, Tuple

import pytest
from rasa.core.policies.rule_policy import RulePolicy
from rasa.engine import loader
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.recent_rule_policy import RecentRulePolicy
from travelbot.rasa_speedups import SequentialGraphRunner
from travelbot.settings import ROOT

MODEL = ROOT / "models" / "traveler.tar.gz"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[RecentRulePolicy, Domain]]:
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: `make model` builds it (make test does)")
    metadata, runner = loader.load_predict_graph_runner(
        Path(tmp_path_factory.mktemp("model")), MODEL, LocalModelStorage, SequentialGraphRunner
    )
    nodes = runner._instantiated_nodes
    node = next(n for name, n in nodes.items() if "RecentRulePolicy" in name)
    node._load_component()
    policy = node._component
    assert isinstance(policy, RecentRulePolicy), "config.yml should use RecentRulePolicy"
    yield policy, metadata.domain


def conversation(domain: Domain, turns: int, seed: int) -> List[Event]:
    """A session of ``turns`` traveler messages with every intent, answers, choices and a pause."""
    rng = random.Random(seed)
    intents = [*domain.intents, "nlu_fallback"]
    events: List[Event] = [ActionExecuted("action_session_start"), SessionStarted()]
    for turn in range(turns):
        intent = rng.choice(intents)
        events += [
            ActionExecuted("action_listen"),
            UserUttered(f"message {turn}", {"name": intent, "confidence": rng.random()}),
            ActionExecuted("action_respond"),
            BotUttered("a reply", {"custom": {"decision": "answer"}}),
            SlotSet("choices", ["a", "b"] if rng.random() < 0.3 else None),
        ]
        if turn == turns // 2:
            events += [ConversationPaused(), ConversationResumed()]
    return events


def predict(policy: RulePolicy, tracker: DialogueStateTracker, domain: Domain) -> Any:
    prediction = policy.predict_action_probabilities(tracker, domain)
    return prediction.probabilities, prediction.events, prediction.is_end_to_end_prediction


@pytest.mark.parametrize("seed", range(5))
def test_every_prediction_in_a_long_conversation_is_rulepolicys(
    trained: Tuple[RecentRulePolicy, Domain], seed: int
) -> None:
    policy, domain = trained
    events = conversation(domain, turns=25, seed=seed)
    shortened = 0
    for end in range(3, len(events) + 1):
        if not isinstance(events[end - 1], (UserUttered, ActionExecuted)):
            continue  # predictions happen after a user message or an action
        tracker = DialogueStateTracker.from_events("someone", events[:end], domain.slots)
        shortened += len(policy.recent_part(tracker, domain).events) < len(tracker.events)
        assert predict(policy, tracker, domain) == predict_with_whole_conversation(policy, tracker, domain)
    assert shortened > 40  # the recent part was really used


def predict_with_whole_conversation(
    policy: RecentRulePolicy, tracker: DialogueStateTracker, domain: Domain
) -> Any:
    policy.recent_part = lambda tracker, domain: tracker  # type: ignore[method-assign]
    try:
        return predict(policy, tracker, domain)
    finally:
        del policy.recent_part


def test_a_slot_that_shapes_the_conversation_keeps_the_whole_tracker(
    trained: Tuple[RecentRulePolicy, Domain],
) -> None:
    policy, domain = trained
    tracker = DialogueStateTracker.from_events("someone", conversation(domain, 20, seed=1), domain.slots)
    assert len(policy.recent_part(tracker, domain).events) < len(tracker.events)
    with_slot = Domain.from_dict(
        {
            **domain.as_dict(),
            "slots": {
                "trip": {"type": "text", "influence_conversation": True, "mappings": [{"type": "custom"}]}
            },
        }
    )
    assert policy.recent_part(tracker, with_slot) is tracker
