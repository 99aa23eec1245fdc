"""Editorial checks on top of the schema: coverage, plain language, originality.

The schema (knowledge/schema.py) checks one entry at a time; these checks need
the whole corpus and the TSA source list it was written from.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Set

import textstat

from knowledge.corpus import Corpus, Problem
from knowledge.schema import Entry, Kind, slugify

SOURCES_DIR = Path(__file__).resolve().parent / "sources"
TSA_ITEMS_FILE = SOURCES_DIR / "tsa-what-can-i-bring.json"
TOPICS_FILE = SOURCES_DIR / "topics.tsv"

MAX_GRADE_SMS = 8.0
MAX_GRADE_WEB = 9.0
COPY_MIN_WORDS = 10

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


@dataclass(frozen=True)
class Sources:
    """What the corpus must cover: TSA's item list and the fixed topic ids."""

    items: List[dict]
    topic_ids: List[str]

    @classmethod
    def load(cls, items_file: Path = TSA_ITEMS_FILE, topics_file: Path = TOPICS_FILE) -> Sources:
        items = json.loads(items_file.read_text(encoding="utf-8"))
        lines = topics_file.read_text(encoding="utf-8").splitlines()[1:]
        topic_ids = [line.split("\t", 1)[0].strip() for line in lines if line.strip()]
        return cls(items=items, topic_ids=topic_ids)

    def item_ids(self) -> Dict[str, dict]:
        return {slugify(item["name"]): item for item in self.items}


def reading_grade(text: str) -> float:
    """Flesch-Kincaid grade of plain text (list markers and links removed)."""
    plain = re.sub(r"https?://\S+", "", text)
    plain = re.sub(r"^\s*[-*\d.]+\s+", "", plain, flags=re.MULTILINE)
    return float(textstat.flesch_kincaid_grade(plain))


def _word_runs(text: str) -> Iterable[str]:
    for sentence in _SENTENCE_SPLIT.split(text.lower()):
        words = _WORD.findall(sentence)
        for start in range(0, max(0, len(words) - COPY_MIN_WORDS + 1)):
            yield " ".join(words[start : start + COPY_MIN_WORDS])


def copied_runs(source_texts: Iterable[str]) -> Set[str]:
    """Every run of COPY_MIN_WORDS consecutive words inside a source sentence."""
    runs: Set[str] = set()
    for text in source_texts:
        runs.update(_word_runs(text))
    return runs


def check_entry(entry: Entry, where: str, source_runs: Set[str]) -> List[Problem]:
    problems: List[Problem] = []
    for field, limit in (("answer_sms", MAX_GRADE_SMS), ("answer", MAX_GRADE_WEB)):
        text = getattr(entry, field)
        grade = reading_grade(text)
        if grade > limit:
            problems.append(Problem(where, entry.id, field, f"reading grade {grade:.1f} > {limit:g}"))
        for run in _word_runs(text):
            if run in source_runs:
                problems.append(Problem(where, entry.id, field, f"copies the TSA text: {run!r}"))
                break
    if "http" in entry.answer_sms:
        problems.append(Problem(where, entry.id, "answer_sms", "must stand alone without links"))
    return problems


def _claimed_twice(corpus: Corpus, field: str, what: str) -> List[Problem]:
    owner: dict = {}
    problems: List[Problem] = []
    for entry in corpus:
        for text in getattr(entry, field):
            key = " ".join(text.lower().split())
            first = owner.setdefault(key, entry.id)
            if first != entry.id:
                where = str(corpus.path_of(entry).relative_to(corpus.root.parent))
                problems.append(Problem(where, entry.id, field, f"{text!r} is also {what} of {first}"))
    return problems


def shared_aliases(corpus: Corpus) -> List[Problem]:
    """An alias or phrasing names one thing: on two entries it makes the answer a coin toss."""
    return (
        _claimed_twice(corpus, "aliases", "an alias")
        + _claimed_twice(corpus, "phrasings", "a phrasing")
        + _claimed_twice(corpus, "chat_phrasings", "a chat phrasing")
    )


def validate(corpus: Corpus, sources: Sources) -> List[Problem]:
    """Every problem in the corpus; an empty list means it may be published."""
    problems: List[Problem] = []
    source_runs = copied_runs(item["description"] for item in sources.items)
    for entry in corpus:
        where = str(corpus.path_of(entry).relative_to(corpus.root.parent))
        problems.extend(check_entry(entry, where, source_runs))
    problems.extend(shared_aliases(corpus))
    expected = {**{i: Kind.ITEM for i in sources.item_ids()}, **{t: Kind.TOPIC for t in sources.topic_ids}}
    for entry_id, kind in sorted(expected.items()):
        folder = "items" if kind == Kind.ITEM else "topics"
        if entry_id not in corpus:
            problems.append(Problem(f"corpus/{folder}/{entry_id}.yml", entry_id, "(entry)", "missing"))
        elif corpus[entry_id].kind != kind:
            problems.append(
                Problem(f"corpus/{folder}/{entry_id}.yml", entry_id, "kind", f"must be {kind.value}")
            )
    return problems
