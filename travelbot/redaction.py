"""Personal data out of travelers' words before staff analytics, the review queue or logs see them.

``redact`` replaces phone numbers, email addresses and ID-like numbers (passport,
Known Traveler Number, card, Social Security) with placeholders such as
``[phone]``. Phone numbers are found by Google's libphonenumber rules
(``phonenumbers.PhoneNumberMatcher``, U.S. numbers and any +international one);
the rest by patterns kept narrow enough that screening questions keep their
meaning: sizes ("3.4 oz", "100 ml", "100Wh", "20000mAh"), times ("10:30"),
years and short flight numbers ("UA 123", "DL1234") are left alone.

Each pass replaces a match that holds at least one digit or an "@" with a
placeholder that holds neither, so repeating the passes until nothing changes
ends, and the result is a fixed point: ``redact(redact(t)) == redact(t)`` and
no detector finds anything in it.
"""

from __future__ import annotations

import re
from typing import Callable, List, Tuple

import phonenumbers
from phonenumbers import Leniency, NumberParseException, PhoneNumberMatcher

PHONE = "[phone]"
EMAIL = "[email]"
NUMBER = "[number]"
PLACEHOLDERS = (PHONE, EMAIL, NUMBER)
REGION = "US"
Detector = Callable[[str], List[Tuple[int, int]]]

# Local part and domain as people type them; no IP-literal or quoted forms (not worth the risk of misses).
_EMAIL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+", re.ASCII)
# 13-19 digits written in groups the way cards print them (4-4-4-4, 4-6-5, 4-4-4-4-3) with spaces or dashes;
# an ungrouped run is caught by the digit-run rule.
_CARD = re.compile(r"(?<![\d+-])\d{4}([ -])\d{4,6}\1\d{4,5}(?:\1\d{1,4}){0,2}(?![\d-])")
# U.S. numbers as people write them (area codes never start with 0 or 1, so "100 200 3000" is no phone).
_US_WRITTEN = re.compile(
    r"(?<![\w+.-])(?:\+?1[-. ])?(?:\([2-9]\d{2}\) ?\d{3}[-. ]|[2-9]\d{2}([-. ])\d{3}\1)\d{4}(?![\w-])"
)
# A + and digit groups: the longest run of groups that is a possible number ("+44 20 7946 0958 100 ml").
_PLUS_GROUPS = re.compile(r"(?<![\w+])\+\d+(?:[ .-]\d+)*")
_GROUP_END = re.compile(r"\d(?=[ .-]|$)")
# What else PhoneNumberMatcher may report as a U.S. number: ten digits (or 1 + ten) in a row, "555-1234".
_US_PLAIN = re.compile(r"1?\d{10}|\d{3}[-.]\d{4}")
_SSN = re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])")
_DIGIT_RUN = re.compile(r"(?<![A-Za-z0-9])\d{6,}(?![A-Za-z0-9])")
# Letters and digits mixed in one token of 6-12 characters with at least 3 digits ("A12345678", "TT123456").
_ID_TOKEN = re.compile(
    r"(?<![A-Za-z0-9])(?=[A-Za-z0-9]*[A-Za-z])(?=(?:[A-Za-z]*\d){3})[A-Za-z0-9]{6,12}(?![A-Za-z0-9])"
)
# Tokens that look like IDs but are a quantity ("20000mAh", "3x100ml", "1030pm") or a flight ("DL1234").
_UNITS = (
    "mah|wh|kwh|ml|cl|dl|l|oz|floz|lb|lbs|kg|g|mg|mm|cm|m|km|in|inch|inches|ft|mi|gb|mb|tb|kb|v|w|kw|"
    "hz|mhz|ghz|am|pm|hr|hrs|h|min|mins|s|sec|st|nd|rd|th|px|k"
)
_QUANTITY = re.compile(rf"(?:\d+x)?\d+(?:{_UNITS})", re.IGNORECASE)
_FLIGHT = re.compile(r"[A-Za-z][A-Za-z0-9]\d{1,4}[A-Za-z]?|\d[A-Za-z]\d{1,4}[A-Za-z]?")


def _phone_spans(text: str) -> List[Tuple[int, int]]:
    """International numbers written with a leading + (any country), and U.S. numbers in plain digits.

    POSSIBLE leniency (right length for the country) rather than VALID: a number in
    an unassigned range ("555-0100" style) is still someone's way of writing a phone.
    U.S. matches are kept only in a phone's shape: the matcher also reads other
    groups of digits as one ("Section 1540.111 2024", "3.4 100 200 3000"). Digits glued
    to letters are left to the ID rule.
    """
    spans = []
    for match in PhoneNumberMatcher(text, REGION, leniency=Leniency.POSSIBLE):
        start, end, raw = match.start, match.end, match.raw_string
        glued = (start > 0 and text[start - 1].isalnum()) or (end < len(text) and text[end].isalnum())
        if not glued and (raw.startswith("+") or _US_PLAIN.fullmatch(raw)):
            spans.append((start, end))
    return spans


def _international_spans(text: str) -> List[Tuple[int, int]]:
    """+numbers followed by more digit groups, which PhoneNumberMatcher then misses as a whole."""
    spans = []
    for run in _PLUS_GROUPS.finditer(text):
        ends = [run.start() + m.end() for m in _GROUP_END.finditer(run.group())]
        for end in reversed(ends):
            try:
                number = phonenumbers.parse(text[run.start() : end], None)
            except NumberParseException:
                continue
            if phonenumbers.is_possible_number(number):
                spans.append((run.start(), end))
                break
    return spans


def _pattern_spans(pattern: re.Pattern[str], keep: Callable[[str], bool] = lambda _: True) -> Detector:
    def spans(text: str) -> List[Tuple[int, int]]:
        return [m.span() for m in pattern.finditer(text) if keep(m.group())]

    return spans


def _email_spans(text: str) -> List[Tuple[int, int]]:
    return [m.span() for m in _EMAIL.finditer(text)] if "@" in text else []  # skips a slow scan


def _card_length(found: str) -> bool:
    return 13 <= sum(ch.isdigit() for ch in found) <= 19


def _id_like(token: str) -> bool:
    return not (_QUANTITY.fullmatch(token) or _FLIGHT.fullmatch(token))


# Order matters: emails first (they may hold digits), cards before phones (a card's digit groups can look
# like a phone number), then phones before the generic digit rules so that they are named as phones;
# written U.S. numbers before the matcher, which may take only the tail of "(202) 555-0123 100 times".
DETECTORS: Tuple[Tuple[str, Detector], ...] = (
    (EMAIL, _email_spans),
    (NUMBER, _pattern_spans(_CARD, _card_length)),
    (NUMBER, _pattern_spans(_SSN)),
    (PHONE, _pattern_spans(_US_WRITTEN)),
    (PHONE, _phone_spans),
    (PHONE, _international_spans),
    (NUMBER, _pattern_spans(_DIGIT_RUN)),
    (NUMBER, _pattern_spans(_ID_TOKEN, _id_like)),
)


def _replace(text: str, spans: List[Tuple[int, int]], placeholder: str) -> str:
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + placeholder + text[end:]
    return text


def _one_pass(text: str) -> str:
    for placeholder, detector in DETECTORS:
        spans = detector(text)
        if spans:
            text = _replace(text, spans, placeholder)
    return text


def redact(text: str) -> str:
    """The text with every phone number, email address and ID-like number replaced by a placeholder."""
    while True:
        redacted = _one_pass(text)
        if redacted == text:
            return text
        text = redacted


def personal_data(text: str) -> List[str]:
    """What any detector finds in text (empty for a redacted text); for checks and tests."""
    return [text[start:end] for _, detector in DETECTORS for start, end in detector(text)]
