"""Bot messages as plain text, for channels that show no buttons or cards (SMS, WhatsApp, ...).

Rasa hands a channel a list of message dicts: text parts (a reply is split at
blank lines), buttons for a clarify turn and, last, our ``custom`` dict with
the decision and the entry's ``source_url``. A plain-text channel must never
show that dict (no JSON on a phone); it renders the buttons as a numbered
list (bot/turn.py understands "1", "2" or words of a title as the choice)
and may add the source link.

SMS has its own arithmetic: one segment holds 160 GSM-7 characters (the
extension characters such as ``€[]{}|^~\\`` count twice) but only 70 when any
character is outside GSM-7, so typographic quotes and dashes are first
replaced by their plain forms (what Twilio's "smart encoding" does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, List, Mapping, Optional, Sequence, Tuple

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "^{}\\[~]|€\f"
GSM_SEGMENT = 160
UCS2_SEGMENT = 70

SMART_REPLACEMENTS = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u201c": '"',  # “
    "\u201d": '"',  # ”
    "\u201e": '"',
    "\u2033": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2212": "-",
    "\u2026": "...",
    "\u00a0": " ",
    "\u2009": " ",
    "\u202f": " ",
    "\u2022": "-",
    "\u00d7": "x",
}

# A sentence ends at . ! or ? followed by white space, or at a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")

Measure = Callable[[str], int]


def to_gsm(text: str) -> str:
    """Replace typographic characters by GSM-7 ones so a segment holds 160 characters, not 70."""
    return "".join(SMART_REPLACEMENTS.get(char, char) for char in text)


def is_gsm(text: str) -> bool:
    return all(char in GSM_BASIC or char in GSM_EXTENSION for char in text)


def gsm_length(text: str) -> int:
    """Length in GSM-7 septets: extension characters take an escape plus the character."""
    return sum(2 if char in GSM_EXTENSION else 1 for char in text)


def ucs2_length(text: str) -> int:
    """Length in UTF-16 code units (an emoji takes two)."""
    return len(text.encode("utf-16-le")) // 2


def sms_measure(text: str) -> Tuple[Measure, int]:
    """How to count characters of this text and how many fit one SMS segment."""
    return (gsm_length, GSM_SEGMENT) if is_gsm(text) else (ucs2_length, UCS2_SEGMENT)


def sentences(text: str) -> List[str]:
    """Pieces of ``text`` that end at a sentence or line end; joined they give ``text`` back."""
    pieces, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        pieces.append(text[start : match.end()])
        start = match.end()
    if start < len(text):
        pieces.append(text[start:])
    return [piece for piece in pieces if piece]


def _words(piece: str, limit: int, measure: Measure) -> List[str]:
    """A sentence longer than ``limit``: split at spaces (or anywhere, for one huge word)."""
    out: List[str] = []
    current = ""
    for word in re.findall(r"\S+\s*", piece):
        while measure(word.rstrip()) > limit:
            if current:
                out.append(current)
                current = ""
            cut = limit
            while measure(word[:cut]) > limit:
                cut -= 1
            out.append(word[:cut])
            word = word[cut:]
        if current and measure((current + word).rstrip()) > limit:
            out.append(current)
            current = ""
        current += word
    if current:
        out.append(current)
    return out


def split_text(text: str, limit: int, measure: Measure = len) -> List[str]:
    """Parts of at most ``limit`` (by ``measure``), cut at sentence ends where possible.

    Each part keeps its original spacing, so ``"".join(parts)`` is ``text``.
    """
    parts: List[str] = []
    current = ""
    for piece in sentences(text):
        if measure((current + piece).rstrip()) <= limit:
            current += piece
            continue
        if current:
            parts.append(current)
            current = ""
        if measure(piece.rstrip()) <= limit:
            current = piece
        else:
            *full, current = _words(piece, limit, measure)
            parts.extend(full)
    if current:
        parts.append(current)
    return parts


def _whole_sentences(text: str, room: int, measure: Measure) -> str:
    """The longest run of whole sentences from the start of ``text`` that fits ``room``."""
    kept = ""
    for piece in sentences(text):
        if measure((kept + piece).rstrip()) > room:
            break
        kept += piece
    return kept


@dataclass(frozen=True)
class Fitted:
    """An SMS reply: the text to send and whether sentences were dropped to make it fit."""

    text: str
    cut: bool


def fit_sms(text: str, max_segments: int = 2, tail: str = "") -> Fitted:
    """Keep the whole sentences of ``text`` that fit the room of ``max_segments`` SMS segments.

    The reply goes out as ONE message (the phone joins its segments, in
    order), so the budget is the total room, not sentence-aligned segments:
    aligning would drop sentences that fit (a 210-character answer of three
    sentences needs three aligned parts). When the text is over budget, the
    sentences that do not fit are dropped and ``tail`` (e.g. "More: <link>")
    ends the message instead, so the traveler knows where to read the rest.
    """
    text = to_gsm(text).strip()
    measure, limit = sms_measure(text)
    if measure(text) <= limit * max_segments:
        return Fitted(text, cut=False)
    tail = to_gsm(tail).strip()
    measure, limit = sms_measure(text + tail)
    room = limit * max_segments - (measure("\n" + tail) if tail else 0)
    kept = _whole_sentences(text, room, measure).strip()
    if not kept:  # a first sentence longer than the room: cut it at a word
        kept = split_text(text, room, measure)[0].strip()
    return Fitted("\n".join(part for part in (kept, tail) if part), cut=True)


@dataclass(frozen=True)
class Rendered:
    """The plain text of one bot turn and the source link the bot gave with it, if any."""

    text: str
    source_url: Optional[str]


CHOICE_HINT = "Reply with the number of your choice."


def numbered(buttons: Sequence[Mapping[str, Any]]) -> str:
    """Buttons as "1. Title" lines, in the order the bot offered them."""
    lines = [f"{number}. {button.get('title', '').strip()}" for number, button in enumerate(buttons, 1)]
    return "\n".join([*lines, CHOICE_HINT])


def render(messages: Sequence[Mapping[str, Any]]) -> Rendered:
    """Join a turn's text messages, buttons as a numbered list; read the link from the custom dict."""
    texts: List[str] = []
    source_url: Optional[str] = None
    for message in messages:
        text = str(message.get("text") or "").strip()
        if text:
            texts.append(text)
        buttons = message.get("buttons") or message.get("quick_replies") or []
        if buttons:
            texts.append(numbered(buttons))
        custom = message.get("custom")
        if isinstance(custom, dict) and custom.get("decision") == "answer" and custom.get("source_url"):
            source_url = str(custom["source_url"])
    return Rendered("\n".join(texts), source_url)


def with_link(text: str, source_url: Optional[str], label: str = "Source") -> str:
    """The text with its source link on a last line (for channels where links are welcome)."""
    return f"{text}\n{label}: {source_url}" if source_url and text else text
