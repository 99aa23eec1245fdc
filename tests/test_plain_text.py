"""Plain-text rendering and SMS fitting (channels/plain_text.py), on the real corpus where it matters."""

from __future__ import annotations

import pytest

from channels import plain_text as pt
from knowledge.corpus import load_corpus

POWER_BANKS_URL = "https://www.tsa.gov/travel/security-screening/whatcanibring/all"


@pytest.fixture(scope="module")
def corpus():
    return load_corpus()


def test_typographic_characters_become_gsm() -> None:
    text = "You\u2019re \u201cfine\u201d \u2013 pack it\u2026"
    assert not pt.is_gsm(text)
    assert pt.to_gsm(text) == 'You\'re "fine" - pack it...'
    assert pt.is_gsm(pt.to_gsm(text))


def test_lengths_count_what_a_segment_holds() -> None:
    assert pt.gsm_length("abc") == 3
    assert pt.gsm_length("[1]€") == 7  # extension characters take two septets
    assert pt.ucs2_length("a🙂") == 3  # an emoji is a surrogate pair
    assert pt.sms_measure("plain")[1] == 160
    assert pt.sms_measure("plain 🙂")[1] == 70


def test_sentences_join_back_to_the_text() -> None:
    text = 'One. Two? "Three!" Four\nFive 3.4 oz six'
    pieces = pt.sentences(text)
    assert "".join(pieces) == text
    assert [p.strip() for p in pieces] == ["One.", "Two?", '"Three!"', "Four", "Five 3.4 oz six"]


def test_split_text_cuts_at_sentence_ends_within_the_limit() -> None:
    text = "Short one. " + "A somewhat longer second sentence here. " * 3 + "End."
    parts = pt.split_text(text, 60)
    assert "".join(parts) == text
    assert all(len(p.rstrip()) <= 60 for p in parts)
    assert all(p.rstrip().endswith(".") for p in parts)


def test_split_text_falls_back_to_words_then_characters() -> None:
    words = pt.split_text("word " * 40, 30)
    assert all(len(p.rstrip()) <= 30 for p in words) and "".join(words) == "word " * 40
    blob = pt.split_text("x" * 75, 30)
    assert [len(p) for p in blob] == [30, 30, 15]


def test_every_corpus_sms_answer_fits_two_segments_uncut(corpus) -> None:
    uncut = [pt.fit_sms(e.answer_sms, tail=f"More: {e.source_url}") for e in corpus]
    assert all(not f.cut and f.text == pt.to_gsm(e.answer_sms) for f, e in zip(uncut, corpus, strict=True))
    over_one = sum(1 for e in corpus if pt.gsm_length(pt.to_gsm(e.answer_sms)) > 160)
    print(f"\n{len(corpus)} answer_sms fit 2 segments uncut; {over_one} need more than one segment")


def test_text_over_two_segments_is_cut_at_a_sentence_and_links_the_rest() -> None:
    sentence = "Liquids in your carry-on must be 3.4 oz or less. "
    fitted = pt.fit_sms(sentence * 10, tail=f"More: {POWER_BANKS_URL}")
    assert fitted.cut
    assert pt.gsm_length(fitted.text) <= 320
    kept, link = fitted.text.rsplit("\n", 1)
    assert link == f"More: {POWER_BANKS_URL}"
    assert kept.endswith("or less.") and (kept + " ") == sentence * (len(kept + " ") // len(sentence))


def test_non_gsm_text_is_budgeted_in_70_character_segments() -> None:
    fitted = pt.fit_sms("Yes 🙂 you can. " * 20, tail="More: https://www.tsa.gov/x")
    assert fitted.cut and pt.ucs2_length(fitted.text) <= 140


def test_short_text_is_sent_as_is() -> None:
    assert pt.fit_sms("  Yes, in carry-on bags.  ") == pt.Fitted("Yes, in carry-on bags.", cut=False)


def test_answer_renders_as_text_and_never_as_json(corpus) -> None:
    entry = corpus["power-banks"]
    custom = {"decision": "answer", "entry_id": entry.id, "source_url": POWER_BANKS_URL, "score": 0.9}
    rendered = pt.render([{"text": entry.answer_sms}, {"custom": custom}])
    assert rendered == pt.Rendered(entry.answer_sms, POWER_BANKS_URL)
    assert "{" not in rendered.text and "decision" not in rendered.text
    assert pt.with_link(rendered.text, rendered.source_url).endswith(f"\nSource: {POWER_BANKS_URL}")


def test_clarify_buttons_become_a_numbered_list() -> None:
    buttons = [
        {"title": "Power banks", "payload": '/choose{"entry_id":"power-banks"}'},
        {"title": "Lithium batteries", "payload": '/choose{"entry_id":"lithium-batteries"}'},
    ]
    custom = {"decision": "clarify", "choices": [{"entry_id": "power-banks", "source_url": POWER_BANKS_URL}]}
    rendered = pt.render([{"text": "Did you mean one of these?", "buttons": buttons}, {"custom": custom}])
    assert rendered.text.splitlines() == [
        "Did you mean one of these?",
        "1. Power banks",
        "2. Lithium batteries",
        pt.CHOICE_HINT,
    ]
    assert rendered.source_url is None  # a link only goes with an answer
    assert "payload" not in rendered.text and "/choose" not in rendered.text


def test_custom_only_turn_renders_nothing() -> None:
    assert pt.render([{"custom": {"decision": "handoff", "handoff_id": 3}}]) == pt.Rendered("", None)
