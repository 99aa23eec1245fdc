"""The entry form of the FAQ editor, and how its fields become an Entry (or field-by-field errors).

The form has one text box per field; lists (phrasings, chat phrasings, aliases, related ids) are one item
per line. Every rule is the schema's (knowledge/schema.py) or the validator's (knowledge/validate.py); this
module only maps their complaints back onto the field the editor typed in.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Dict, Iterable, List, Optional, Tuple

from flask_wtf import FlaskForm
from pydantic import ValidationError
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import Length

from knowledge.corpus import Problem
from knowledge.schema import Entry, Kind, Status

GENERAL = "entry"  # errors that belong to no single field
STATUS_CHOICES = [("", "(none: a topic)")] + [(s.value, f"{s.value}: {s.label}") for s in Status]
Errors = Dict[str, List[str]]


class EntryForm(FlaskForm):
    id = StringField("Id", validators=[Length(max=120)])
    kind = SelectField("Kind", choices=[(k.value, k.value) for k in Kind], default=Kind.TOPIC.value)
    title = StringField("Title", validators=[Length(max=200)])
    phrasings = TextAreaField("Example phrasings (one per line, 3 to 8)")
    chat_phrasings = TextAreaField(
        "The same questions as travelers write them in a chat (one per line, up to 12: trip, brands, typos)"
    )
    aliases = TextAreaField("Aliases (one per line: brand names, slang, misspellings)")
    answer = TextAreaField("Web answer")
    answer_sms = TextAreaField("SMS answer")
    carry_on = SelectField("Carry-on", choices=STATUS_CHOICES, default="")
    checked = SelectField("Checked bag", choices=STATUS_CHOICES, default="")
    source_url = StringField("Source (https link)", validators=[Length(max=500)])
    last_reviewed = StringField("Last reviewed (YYYY-MM-DD)", validators=[Length(max=10)])
    related = TextAreaField("Related entry ids (one per line)")
    needs_review = BooleanField("Needs review")
    review_note = StringField("Review note", validators=[Length(max=500)])


class ActionForm(FlaskForm):
    """A button-only form: just the CSRF token."""


def lines_of(text: Optional[str]) -> List[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def clean_text(text: Optional[str]) -> str:
    """Browser line breaks to \\n and no trailing spaces, which would force the file's answer out of `|`."""
    return "\n".join(line.rstrip() for line in (text or "").replace("\r\n", "\n").split("\n")).strip()


# A traveler's question that the review queue proposes goes where its length says it belongs: in the corpus,
# 98 % of the short phrasings have at most 10 words, and nine in ten chat phrasings have more.
CHAT_MIN_WORDS = 11


def sorted_by_length(questions: Iterable[str]) -> Tuple[List[str], List[str]]:
    """Proposed questions as (short phrasings, chat phrasings), blanks dropped."""
    short: List[str] = []
    chatty: List[str] = []
    for question in (q.strip() for q in questions):
        if question:
            (chatty if len(question.split()) >= CHAT_MIN_WORDS else short).append(question)
    return short, chatty


def _joined(*parts: Iterable[str]) -> str:
    """One per line, each once, in order."""
    return "\n".join(dict.fromkeys(text for part in parts for text in part))


def fill(form: EntryForm, entry: Entry, proposed: Iterable[str] = ()) -> None:
    """Show ``entry`` in the form, plus questions proposed by the review queue (without duplicates)."""
    short, chatty = sorted_by_length(proposed)
    form.id.data = entry.id
    form.kind.data = entry.kind.value
    form.title.data = entry.title
    form.phrasings.data = _joined(entry.phrasings, short)
    form.chat_phrasings.data = _joined(entry.chat_phrasings, chatty)
    form.aliases.data = "\n".join(entry.aliases)
    form.answer.data = entry.answer
    form.answer_sms.data = entry.answer_sms
    form.carry_on.data = entry.carry_on.value if entry.carry_on else ""
    form.checked.data = entry.checked.value if entry.checked else ""
    form.source_url.data = entry.source_url
    form.last_reviewed.data = entry.last_reviewed.isoformat()
    form.related.data = "\n".join(entry.related)
    form.needs_review.data = entry.needs_review
    form.review_note.data = entry.review_note or ""


def blank(form: EntryForm, proposed: Iterable[str]) -> None:
    """A new entry's form, with questions proposed by the review queue and today as the review date."""
    short, chatty = sorted_by_length(proposed)
    form.phrasings.data = _joined(short)
    form.chat_phrasings.data = _joined(chatty)
    form.last_reviewed.data = dt.date.today().isoformat()
    form.source_url.data = "https://www.tsa.gov/travel/security-screening/whatcanibring/all"


def raw_entry(form: EntryForm, entry_id: str) -> Dict[str, Any]:
    """The form's values as the fields of an entry file (empty optional fields left out)."""
    raw: Dict[str, Any] = {
        "id": entry_id,
        "kind": form.kind.data,
        "title": (form.title.data or "").strip(),
        "phrasings": lines_of(form.phrasings.data),
        "chat_phrasings": lines_of(form.chat_phrasings.data),
        "aliases": lines_of(form.aliases.data),
        "answer": clean_text(form.answer.data),
        "answer_sms": clean_text(form.answer_sms.data),
        "source_url": (form.source_url.data or "").strip(),
        "last_reviewed": (form.last_reviewed.data or "").strip(),
        "related": lines_of(form.related.data),
        "needs_review": bool(form.needs_review.data),
    }
    for status in ("carry_on", "checked"):
        if getattr(form, status).data:
            raw[status] = getattr(form, status).data
    if (form.review_note.data or "").strip():
        raw["review_note"] = (form.review_note.data or "").strip()
    return raw


def _where(loc: Tuple[Any, ...]) -> Tuple[str, str]:
    """A pydantic error location as (form field, prefix): ("phrasings", 2) -> ("phrasings", "line 3: ")."""
    name = str(loc[0]) if loc else GENERAL
    if name == "__root__":
        return GENERAL, ""
    if len(loc) > 1 and isinstance(loc[1], int):
        return name, f"line {loc[1] + 1}: "
    return name, ""


def parse(raw: Dict[str, Any]) -> Tuple[Optional[Entry], Errors]:
    """The entry, or the schema's errors by form field."""
    try:
        return Entry.parse_obj(raw), {}
    except ValidationError as exc:
        errors: Errors = {}
        for err in exc.errors():
            name, prefix = _where(tuple(err["loc"]))
            errors.setdefault(name, []).append(prefix + err["msg"])
        return None, errors


def _names(problem: Problem, entry_id: str) -> bool:
    """Does a problem filed under another entry name this one (an alias both claim, a related id)?"""
    return problem.message.endswith(f" of {entry_id}") or repr(entry_id) in problem.message


def problem_errors(problems: Iterable[Problem], entry_id: str) -> Errors:
    """The validator's problems that concern ``entry_id``, by form field."""
    fields = set(Entry.__fields__)
    errors: Errors = {}
    for problem in problems:
        name = problem.field if problem.field in fields else GENERAL
        if problem.entry_id == entry_id:
            errors.setdefault(name, []).append(problem.message)
        elif _names(problem, entry_id):
            errors.setdefault(name, []).append(f"{problem.entry_id}: {problem.message}")
    return errors
