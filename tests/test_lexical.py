from pathlib import Path

from knowledge.base import screening_rows
from knowledge.corpus import Corpus
from knowledge.index import Candidate, EntryIndex, Row, entry_rows, question_texts
from knowledge.lexical import LexicalScorer
from knowledge.schema import Entry
from knowledge.scope import SCREENING, WRITTEN_SCREENING


def item(entry_id: str, title: str, phrasings: list, aliases: list) -> Entry:
    return Entry.parse_obj(
        dict(
            id=entry_id,
            kind="item",
            title=title,
            phrasings=phrasings,
            aliases=aliases,
            answer="Yes, you may pack it in either bag.",
            answer_sms="Yes, in either bag.",
            carry_on="allowed",
            checked="allowed",
            source_url="https://www.tsa.gov/x",
            last_reviewed="2026-01-01",
        )
    )


WET = item(
    "pet-food-wet", "Wet pet food", ["canned dog food", "wet cat food pouch", "wet food"], ["Fancy Feast"]
)
DRY = item("pet-food-solid", "Dry pet food", ["dry dog food", "bag of kibble", "dog treats"], ["kibble"])


def test_the_word_that_tells_neighbours_apart_wins(tmp_path: Path) -> None:
    scorer = LexicalScorer(Corpus([WET, DRY], tmp_path))
    # The embedding prefers the wrong neighbour by a little; the rare word "wet" decides.
    blurred = [Candidate("pet-food-solid", 0.90), Candidate("pet-food-wet", 0.88)]
    ranked = scorer.rerank("can of wet cat food in my carry on?", blurred, 0.05, 0.25)
    assert [c.entry_id for c in ranked] == ["pet-food-wet", "pet-food-solid"]
    # With no word evidence the order is the embedding's.
    assert scorer.rerank("something else entirely", blurred, 0.05, 0.25)[0].entry_id == "pet-food-solid"


def test_rare_words_weigh_more_than_common_ones(tmp_path: Path) -> None:
    scorer = LexicalScorer(Corpus([WET, DRY], tmp_path))
    assert scorer.idf["kibble"] > scorer.idf["food"]
    assert scorer.vocabulary_share(frozenset({"kibble"}), "pet-food-solid") == 1.0
    assert scorer.vocabulary_share(frozenset({"kibble"}), "pet-food-wet") == 0.0


def test_aliases_are_indexed_but_only_questions_teach_the_scope_classifier() -> None:
    texts = [text for text, _ in entry_rows(DRY)]
    assert "kibble" in texts and "Can I bring kibble on a plane?" in texts
    assert "kibble" not in question_texts(DRY)
    assert texts[: len(question_texts(DRY))] == question_texts(DRY)


def test_a_distinctive_word_counts_however_long_the_message(tmp_path: Path) -> None:
    """A brand only one entry knows decides between near neighbours even inside a long message."""
    others = [
        item(f"other-{n}", f"Pet toy {n}", ["pet toy", "dog toy", "cat toy"], ["fancy"]) for n in range(4)
    ]
    scorer = LexicalScorer(Corpus([WET, DRY, *others], tmp_path))
    assert "kibble" in scorer.distinctive and "fancy" not in scorer.distinctive  # 'fancy': five entries
    long_message = (
        "we are driving to the airport tomorrow morning with the whole family and the dog is coming "
        "along for the week at grandmas, so can the kibble ride with us"
    )
    blurred = [Candidate("pet-food-wet", 0.80), Candidate("pet-food-solid", 0.78)]
    plain = scorer.rerank(long_message, blurred, 0.05, 0.25)
    assert plain[0].entry_id == "pet-food-wet"  # one word in a long message barely moves the share
    with_bonus = scorer.rerank(long_message, blurred, 0.05, 0.25, distinctive_weight=0.06)
    assert with_bonus[0].entry_id == "pet-food-solid"


def test_chat_phrasings_are_indexed_and_teach_the_long_message_mode(tmp_path: Path) -> None:
    """A chat phrasing is a row of its entry and a 'screening/written' example; an alias teaches no class."""
    message = "moving to denver w my lab, can his kibble go in my carry on"
    chatty = DRY.copy(update={"chat_phrasings": [message]})
    texts, owners, kinds = EntryIndex.rows_for(Corpus([WET, chatty], tmp_path))
    row = texts.index(message)
    assert owners[row] == "pet-food-solid" and kinds[row] == Row.CHAT
    taught = {texts[n]: label for n, label in screening_rows(kinds)}
    assert taught[texts[row]] == WRITTEN_SCREENING
    assert taught["bag of kibble"] == SCREENING
    assert "kibble" not in taught
    # Word evidence reads the short texts only: a trip's words would make every entry's vocabulary noisy.
    assert "denver" not in LexicalScorer(Corpus([chatty], tmp_path)).vocab["pet-food-solid"]
