from pathlib import Path

import pytest

from knowledge.corpus import CorpusError, load_corpus, read_entry
from knowledge.schema import slugify

GOOD = """\
id: {id}
kind: item
title: Power banks
phrasings: [can i bring my power bank, anker charger in checked bag, battery pack carry on]
answer: Pack power banks in your carry-on bag only. They are not allowed in checked bags.
answer_sms: "Power banks: carry-on only, never in checked bags."
carry_on: allowed
checked: not-allowed
source_url: https://www.tsa.gov/travel/security-screening/whatcanibring/all
last_reviewed: 2026-01-02
"""


def write(root: Path, name: str, text: str, folder: str = "items") -> Path:
    path = root / "corpus" / folder / f"{name}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Cheese (Creamy)", "cheese-creamy"),
        ("  BB Guns ", "bb-guns"),
        ("Lighters (Gun)", "lighters-gun"),
        ("Knives & Blades", "knives-blades"),
    ],
)
def test_slugify_follows_the_issue_rule(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_a_valid_entry_loads(tmp_path: Path) -> None:
    path = write(tmp_path, "power-banks", GOOD.format(id="power-banks"))
    entry = read_entry(path, tmp_path / "corpus")
    assert entry.id == "power-banks" and entry.carry_on and entry.carry_on.label == "Yes"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            (
                'answer_sms: "Power banks: carry-on only, never in checked bags."',
                'answer_sms: "' + "x" * 321 + '"',
            ),
            "answer_sms",
        ),
        (("carry_on: allowed", "carry_on: maybe"), "carry_on"),
        (("source_url: https://", "source_url: ftp://"), "source_url"),
        (("last_reviewed: 2026-01-02", "last_reviewed: 2999-01-01"), "last_reviewed"),
        (("title: Power banks\n", ""), "title"),
        (("kind: item", "kind: item\ncolour: blue"), "colour"),
    ],
)
def test_schema_errors_name_file_and_field(tmp_path: Path, change: tuple, field: str) -> None:
    path = write(tmp_path, "power-banks", GOOD.format(id="power-banks").replace(*change))
    with pytest.raises(CorpusError) as info:
        read_entry(path, tmp_path / "corpus")
    problem = info.value.problems[0]
    assert problem.field == field
    assert "power-banks.yml" in problem.file
    assert field in str(info.value)


def test_file_name_must_match_id(tmp_path: Path) -> None:
    path = write(tmp_path, "other-name", GOOD.format(id="power-banks"))
    with pytest.raises(CorpusError, match=r"items/power-banks\.yml"):
        read_entry(path, tmp_path / "corpus")


def test_broken_yaml_and_unknown_related_are_reported_together(tmp_path: Path) -> None:
    write(tmp_path, "broken", "id: [unclosed")
    write(tmp_path, "power-banks", GOOD.format(id="power-banks") + "related: [no-such-entry]\n")
    with pytest.raises(CorpusError) as info:
        load_corpus(tmp_path / "corpus")
    fields = {(p.entry_id, p.field) for p in info.value.problems}
    assert ("broken", "(file)") in fields
    assert ("power-banks", "related") in fields


def test_the_shipped_corpus_loads_and_covers_every_topic() -> None:
    corpus = load_corpus()
    topics = {e.id for e in corpus if e.kind.value == "topic"}
    assert len(topics) == 27
    assert {"liquids-rule", "real-id", "contact-human"} <= topics
    assert len(corpus) >= 27 + 60
