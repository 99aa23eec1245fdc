"""Questions editors save from real conversations, with the answer they must keep getting.

They join the shared dev set in the publication gate (travelbot/gate.py ``regression_files``): a later edit
that changes the answer to one of them is refused like any other regression. They live beside the corpus
in ``regression/editors.jsonl`` (one JSON object per line, the dev set's format), so they are reviewed and
versioned in git with the entries. Saved from the review queue, whose texts are already redacted: no
traveler's phone number or e-mail address ever reaches the file.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple, Union

from knowledge.entry_files import write_text_atomic
from knowledge.publish import corpus_files_lock

SAVED_FILE = "editors.jsonl"
NO_ANSWER = "no_answer"
MAX_QUESTION_CHARS = 500
Expect = Union[str, Tuple[str, ...]]  # NO_ANSWER, or the entry ids that are right


class RegressionError(ValueError):
    """A question that cannot be saved (the message says why)."""


def saved_path(corpus_dir: Path) -> Path:
    return corpus_dir.parent / "regression" / SAVED_FILE


@dataclass(frozen=True)
class Saved:
    question: str
    expect: Expect
    updated: bool  # True when the question was saved before and its expectation replaced


def _key(question: str) -> str:
    return " ".join(question.lower().split())


def save_question(corpus_dir: Path, index_dir: Path, question: str, expect: Expect, author: str) -> Saved:
    """Add the question (or replace its expectation when it is there already); one writer at a time."""
    question = " ".join(question.split())
    if not question or len(question) > MAX_QUESTION_CHARS:
        raise RegressionError(f"the question must have 1 to {MAX_QUESTION_CHARS} characters")
    if expect != NO_ANSWER and (isinstance(expect, str) or not expect):
        raise RegressionError("expect must be no_answer or a list of entry ids")
    row = {
        "q": question,
        "expect": expect if expect == NO_ANSWER else list(expect),
        "kind": "editor",
        "saved_by": author,
        "saved_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    path = saved_path(corpus_dir)
    with corpus_files_lock(index_dir):
        lines: List[str] = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        kept = [line for line in lines if line.strip() and _key(json.loads(line)["q"]) != _key(question)]
        kept.append(json.dumps(row, ensure_ascii=False))
        write_text_atomic(path, "\n".join(kept) + "\n")
    return Saved(question, expect, updated=len(kept) <= len([line for line in lines if line.strip()]))
