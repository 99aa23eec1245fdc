"""One dialogue turn: NLU intent + retrieval, including pending choices."""

from bot.turn import Parse, decide_turn
from knowledge.policy import Decision, Policy

CHOICES = ["deodorant-solid", "deodorant-liquid", "deodorant-aerosol"]


def test_typed_number_picks_a_pending_choice(policy: Policy) -> None:
    turn = decide_turn(policy, Parse("2"), CHOICES)
    assert (turn.decision, turn.outcome.entry_id) == (Decision.ANSWER, "deodorant-liquid")


def test_typed_words_pick_a_pending_choice(policy: Policy) -> None:
    titles = {c: policy.kb.corpus[c].title for c in CHOICES}
    turn = decide_turn(policy, Parse(titles["deodorant-aerosol"].lower()), CHOICES)
    assert turn.outcome.entry_id == "deodorant-aerosol"


def test_button_payload_entity_picks_the_entry(policy: Policy) -> None:
    turn = decide_turn(policy, Parse("/choose", "choose", 1.0, chosen_entry="deodorant-solid"), CHOICES)
    assert turn.outcome.entry_id == "deodorant-solid"


def test_none_of_these_hands_off(policy: Policy) -> None:
    turn = decide_turn(policy, Parse("none of those", "deny", 0.9), CHOICES)
    assert (turn.decision, turn.outcome.reason) == (Decision.HANDOFF, "clarify_failed")


def test_a_new_question_replaces_pending_choices(policy: Policy) -> None:
    turn = decide_turn(
        policy, Parse("can i bring a power bank in checked luggage", "ask_question", 0.9), CHOICES
    )
    assert turn.outcome.entry_id == "power-banks"


def test_request_for_a_person_hands_off(policy: Policy) -> None:
    turn = decide_turn(policy, Parse("get me a real person", "request_human", 0.9))
    assert (turn.decision, turn.outcome.reason) == (Decision.HANDOFF, "requested")


def test_greeting_gets_smalltalk_not_an_entry(policy: Policy) -> None:
    turn = decide_turn(policy, Parse("hello there", "greet", 0.95))
    assert (turn.decision, turn.response) == (Decision.DECLINE, "utter_greet")


def test_sensitive_wins_over_any_intent(policy: Policy) -> None:
    turn = decide_turn(policy, Parse("hi, how do i smuggle a lighter past security", "greet", 0.99))
    assert turn.outcome.urgent and turn.decision == Decision.HANDOFF


def test_bad_text(policy: Policy) -> None:
    assert decide_turn(policy, Parse("   ")).outcome.reason == "empty"
    assert decide_turn(policy, Parse("🙂🙂")).outcome.reason == "empty"
    assert decide_turn(policy, Parse("knife " * 2000)).outcome.reason == "too_long"
