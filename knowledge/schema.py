"""The shape of one FAQ entry, checked whenever the corpus is loaded.

Entries are YAML files written by people; a mistake must be reported with the
file and the field, never surface later as a wrong answer.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import Enum
from typing import List, Optional

from pydantic import BaseModel, Extra, Field, root_validator, validator

SMS_MAX_CHARS = 320
ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
URL_PATTERN = re.compile(r"^https://[a-z0-9.-]+\.[a-z]{2,}(/[^\s]*)?$")


def slugify(name: str) -> str:
    """Entry id for a TSA item name: "Cheese (Creamy)" -> "cheese-creamy"."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


class Kind(str, Enum):
    ITEM = "item"
    TOPIC = "topic"


class Status(str, Enum):
    """Whether an item may go in a bag, mirroring TSA's five answers."""

    ALLOWED = "allowed"
    NOT_ALLOWED = "not-allowed"
    CONDITIONS = "conditions"  # allowed, with special instructions
    TRAVEL_SIZE = "travel-size"  # 3.4 oz / 100 ml or less
    CHECK_WITH_AIRLINE = "check-with-airline"

    @property
    def label(self) -> str:
        return {
            "allowed": "Yes",
            "not-allowed": "No",
            "conditions": "Yes, with conditions",
            "travel-size": "Yes, 3.4 oz (100 ml) or less",
            "check-with-airline": "Check with your airline",
        }[self.value]


class Entry(BaseModel):
    """One answerable question: a TSA item or a general screening topic."""

    id: str
    kind: Kind
    title: str = Field(..., min_length=2, max_length=120)
    phrasings: List[str] = Field(..., min_items=3, max_items=8)
    # The same questions as travelers really write them in a chat or a text: a trip, a family member or a
    # brand named, typos, several clauses. Searched beside the short phrasings (a long message is nearer
    # to another long message than to "aerosol insecticide carry on"), and the scope classifier's examples
    # of long screening messages (knowledge/scope.py).
    chat_phrasings: List[str] = Field(default_factory=list, max_items=12)
    # Other names travelers use for the thing: brand names, slang, misspellings.
    aliases: List[str] = Field(default_factory=list, max_items=15)
    answer: str = Field(..., min_length=20)
    answer_sms: str = Field(..., min_length=10, max_length=SMS_MAX_CHARS)
    carry_on: Optional[Status] = None
    checked: Optional[Status] = None
    source_url: str
    last_reviewed: dt.date
    related: List[str] = Field(default_factory=list)
    needs_review: bool = False
    review_note: Optional[str] = None

    class Config:
        extra = Extra.forbid
        anystr_strip_whitespace = True

    @validator("id")
    def _id_is_slug(cls, value: str) -> str:
        if not ID_PATTERN.match(value):
            raise ValueError("must be lowercase words joined by '-' (a-z, 0-9)")
        return value

    @validator("phrasings", each_item=True)
    def _phrasing_not_blank(cls, value: str) -> str:
        if len(value.strip()) < 3:
            raise ValueError("each phrasing needs at least 3 characters")
        return value

    @validator("chat_phrasings", each_item=True)
    def _chat_phrasing_is_a_question(cls, value: str) -> str:
        if not 10 <= len(value.strip()) <= 400:
            raise ValueError("each chat phrasing is a question of 10 to 400 characters")
        return value

    @validator("aliases", each_item=True)
    def _alias_is_a_name(cls, value: str) -> str:
        if not 2 <= len(value.strip()) <= 40:
            raise ValueError("each alias is a short name of 2 to 40 characters")
        return value

    @validator("source_url")
    def _url_form(cls, value: str) -> str:
        if not URL_PATTERN.match(value):
            raise ValueError("must be an https:// address")
        return value

    @validator("last_reviewed")
    def _not_in_future(cls, value: dt.date) -> dt.date:
        if value > dt.date.today():
            raise ValueError("is in the future")
        return value

    @root_validator(skip_on_failure=True)
    def _status_matches_kind(cls, values: dict) -> dict:
        kind = values.get("kind")
        has_status = values.get("carry_on") is not None and values.get("checked") is not None
        if kind == Kind.ITEM and not has_status:
            raise ValueError("an item needs both carry_on and checked")
        if kind == Kind.TOPIC and (values.get("carry_on") or values.get("checked")):
            raise ValueError("a topic has no carry_on/checked status")
        return values
