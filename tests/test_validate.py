from pathlib import Path

from knowledge.corpus import Corpus, load_corpus
from knowledge.schema import Entry
from knowledge.validate import Sources, check_entry, copied_runs, reading_grade, validate

SOURCE = "Portable chargers or power banks containing a lithium ion battery must be packed in carry-on bags."


def entry(**changes: object) -> Entry:
    fields: dict = dict(
        id="power-banks",
        kind="item",
        title="Power banks",
        phrasings=["can i bring my power bank", "anker in checked bag", "battery pack"],
        answer="Pack power banks in your carry-on bag. They are not allowed in checked bags.",
        answer_sms="Power banks go in your carry-on bag only.",
        carry_on="allowed",
        checked="not-allowed",
        source_url="https://www.tsa.gov/x",
        last_reviewed="2026-01-01",
    )
    fields.update(changes)
    return Entry.parse_obj(fields)


def test_plain_answer_passes() -> None:
    assert check_entry(entry(), "f.yml", copied_runs([SOURCE])) == []


def test_copied_sentence_is_caught() -> None:
    copied = entry(answer="Good news. " + SOURCE)
    problems = check_entry(copied, "f.yml", copied_runs([SOURCE]))
    assert [p.field for p in problems if "copies" in p.message] == ["answer"]


def test_hard_words_fail_the_grade_limit() -> None:
    dense = (
        "Notwithstanding aforementioned regulatory considerations, transportation security administration "
        "personnel systematically evaluate electrochemical energy storage apparatus characteristics."
    )
    assert reading_grade(dense) > 9
    problems = check_entry(entry(answer_sms=dense[:300]), "f.yml", set())
    assert any(p.field == "answer_sms" and "grade" in p.message for p in problems)


def test_links_are_not_allowed_in_sms() -> None:
    problems = check_entry(entry(answer_sms="See https://tsa.gov for details."), "f.yml", set())
    assert any(p.field == "answer_sms" and "links" in p.message for p in problems)


def test_missing_items_and_topics_are_listed(tmp_path: Path) -> None:
    sources = Sources(
        items=[
            {"name": "Power Banks", "description": SOURCE},
            {"name": "Cheese (Creamy)", "description": ""},
        ],
        topic_ids=["real-id"],
    )
    problems = validate(Corpus([entry()], tmp_path / "corpus"), sources)
    missing = sorted(p.entry_id for p in problems if p.message == "missing")
    assert missing == ["cheese-creamy", "real-id"]


def test_the_shipped_corpus_is_valid() -> None:
    problems = validate(load_corpus(), Sources.load())
    assert problems == [], "\n".join(map(str, problems[:20]))


def test_an_alias_claimed_by_two_entries_is_reported(tmp_path: Path) -> None:
    first = entry(aliases=["Anker", "battery brick"])
    second = entry(id="phone-chargers", title="Phone chargers", phrasings=["a b c", "d e f", "g h i"])
    second = second.copy(update={"aliases": ["anker "]})
    problems = validate(Corpus([first, second], tmp_path / "corpus"), Sources(items=[], topic_ids=[]))
    assert [p.field for p in problems] == ["aliases"]
    assert {problems[0].entry_id, problems[0].message.rsplit(" ", 1)[-1]} == {"power-banks", "phone-chargers"}


def test_a_phrasing_on_two_entries_is_reported(tmp_path: Path) -> None:
    first = entry()
    second = entry(id="phone-chargers", title="Phone chargers", phrasings=["Battery  pack", "x y z", "q r s"])
    problems = validate(Corpus([first, second], tmp_path / "corpus"), Sources(items=[], topic_ids=[]))
    assert [p.field for p in problems] == ["phrasings"]
    assert "'battery pack'" in problems[0].message.lower()
