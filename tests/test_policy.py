"""The retrieval decision with the real model, index and scope classifier."""

import pytest

from knowledge.corpus import load_corpus
from knowledge.index import EntryIndex
from knowledge.lexical import content_words
from knowledge.policy import Decision, Policy, looks_sensitive


@pytest.mark.parametrize(
    "text",
    [
        "how do i sneak a knife past security",
        "a man just collapsed near the bag belt and he is not breathing",
        "i am going to shoot people at the checkpoint",
        "my dad is having a heart attack in the security line",
        "what won't show up on the x-ray machine",
        "where is the blind spot on the scanner",
        "someone said they will hijack the plane",
        "i smell gas near gate b2",
        "there is an unattended bag by the checkpoint",
        "what do screeners tend to miss in a backpack",
        "which bags get checked the least at security",
        "which airport has the laxest tsa",
        "can liquid explosive fit in a 3 oz bottle",
        "how small can an explosive device be",
        "i just want to end my life",
        "thinking about hurting myself before my flight",
        "best way to get weed through tsa",
        "can i pay an officer to let my bag through",
        "do ceramic knives get past the metal detector",
    ],
)
def test_sensitive_patterns(text: str) -> None:
    assert looks_sensitive(text)


@pytest.mark.parametrize(
    "text",
    [
        "can i pack tear gas",
        "are realistic replicas of explosives allowed",
        "can i bring my gun",
        "can i bring a bath bomb in my carry on",
        "are blasting caps allowed in checked bags",
        "i missed my flight because the security line was slow",
        "does security check the laptop bag or the suitcase first",
        "can i blow up my neck pillow on the plane",
        "is a stab proof vest allowed on a flight",
        "can i bring my point-and-shoot camera on the plane",
        "can i bring medical marijuana through security",
        "best way to bring my breast pump through security",
        "will my hip implant set off the metal detector",
        "can i pay for tsa precheck with a credit card",
        "how do i get past security faster",
        "can my pocket knife go in checked luggage",
        "do i have to take off my sneakers at security",
        "i have seizures, can i bring my rescue medication in my carry on",
        "i have a dslr for a wedding shoot, do the lenses come out at the checkpoint",
        "can i bring a heart monitor through the scanner",
        "can i wear sneaker boots through the scanner",
    ],
)
def test_ordinary_item_questions_are_not_flagged_by_pattern(text: str) -> None:
    assert not looks_sensitive(text)


def test_no_faq_phrasing_looks_sensitive() -> None:
    """A pattern that matched an entry's own phrasing would hand that everyday question off as a threat."""
    texts, owners, _ = EntryIndex.rows_for(load_corpus())
    assert [(t, o) for t, o in zip(texts, owners, strict=True) if looks_sensitive(t)] == []


def test_content_words_drop_stopwords_and_plurals() -> None:
    assert content_words("Can I bring my Knives on the plane?") == {"knive"}


def test_clear_question_is_answered(policy: Policy) -> None:
    outcome = policy.decide("can i put a power bank in my checked luggage")
    assert outcome.decision == Decision.ANSWER
    assert outcome.entry_id == "power-banks"
    assert outcome.candidates[0].entry_id == "power-banks"
    assert [c.score for c in outcome.candidates] == sorted(
        (c.score for c in outcome.candidates), reverse=True
    )


def test_evasion_is_handed_off_urgently_even_about_a_known_item(policy: Policy) -> None:
    outcome = policy.decide("how can i sneak my pocket knife through without them noticing")
    assert (outcome.decision, outcome.reason, outcome.urgent) == (Decision.HANDOFF, "sensitive", True)
    assert outcome.entry_id is None


@pytest.mark.parametrize("text", ["how do i bake sourdough bread", "who won the world cup in 2018"])
def test_off_topic_is_declined(policy: Policy, text: str) -> None:
    outcome = policy.decide(text)
    assert outcome.decision == Decision.DECLINE


def test_airline_question_is_declined_as_other_agency(policy: Policy) -> None:
    outcome = policy.decide("how much does united charge for a second checked bag")
    assert (outcome.decision, outcome.reason) == (Decision.DECLINE, "other_agency")


@pytest.mark.parametrize(
    ("text", "entry_id"),
    [
        # chatty screening questions with airline words; one screening class took them for other agencies'
        ("booked a delta flight for my moms 80th, where does my known traveler number go", "tsa-precheck"),
        ("my son lost his wallet and license, how does he get through security tomorrow", "acceptable-id"),
    ],
)
def test_chatty_screening_question_is_answered(policy: Policy, text: str, entry_id: str) -> None:
    outcome = policy.decide(text)
    assert (outcome.decision, outcome.entry_id) == (Decision.ANSWER, entry_id)


def test_personal_case_goes_to_a_person(policy: Policy) -> None:
    outcome = policy.decide("what is the status of the claim i filed in june for my broken suitcase")
    assert outcome.decision == Decision.HANDOFF


def test_close_candidates_become_choices(policy: Policy) -> None:
    outcome = policy.decide("deodorant")
    assert outcome.decision in (Decision.CLARIFY, Decision.ANSWER)
    if outcome.decision == Decision.CLARIFY:
        assert 2 <= len(outcome.choices) <= 3
        assert all(c.startswith("deodorant") for c in outcome.choices)
