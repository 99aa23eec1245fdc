"""Redaction of travelers' personal data: examples of what goes and what must stay, and properties."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from travelbot.redaction import EMAIL, NUMBER, PHONE, personal_data, redact

REDACTED = [
    ("call me at (202) 555-0123 please", "call me at [phone] please"),
    ("my number is 555-123-4567", "my number is [phone]"),
    ("cell 202.555.0123", "cell [phone]"),
    ("call 2025550123 now", "call [phone] now"),
    ("1-800-435-9792", "[phone]"),
    ("+1 202 555 0123 is mine", "[phone] is mine"),
    ("text +44 20 7946 0958 ok", "text [phone] ok"),
    ("+49 30 12345678", "[phone]"),
    ("whatsapp:+15551234567", "whatsapp:[phone]"),
    ("reach me on 555-1234", "reach me on [phone]"),
    ("call (202) 555-0123 100 times", "call [phone] 100 times"),
    ("200.200.0000 100 ml", "[phone] 100 ml"),
    ("+44 20 7946 0958 100 ml", "[phone] 100 ml"),
    ("email john.doe+tsa@example.co.uk now", "email [email] now"),
    ("Mail: A_B@mail-server.example.org.", "Mail: [email]."),
    ("my KTN is 123456789", "my KTN is [number]"),
    ("KTN TT1234567 not working", "KTN [number] not working"),
    ("passport A12345678 expired", "passport [number] expired"),
    ("passport no. 912803456", "passport no. [number]"),
    ("ID: X1234567", "ID: [number]"),
    ("redress number 0123456", "redress number [number]"),
    ("confirmation ABC123DEF", "confirmation [number]"),
    ("card 4111 1111 1111 1111", "card [number]"),
    ("card 4111-1111-1111-1111 was charged", "card [number] was charged"),
    ("amex 3782 822463 10005", "amex [number]"),
    ("4111111111111111", "[number]"),
    ("ssn 123-45-6789", "ssn [number]"),
    (
        "I'm Jo (jo@x.io, 202-555-0199), passport 123456789",
        "I'm Jo ([email], [phone]), passport [number]",
    ),
]

KEPT = [
    "can I bring 3.4 oz of shampoo",
    "is a 100 ml bottle ok",
    "a 100Wh battery",
    "my 20000mAh power bank",
    "3x100ml bottles",
    "flight UA 123 at 10:30",
    "flights UA 1234 and UA 5678",
    "DL1234 tomorrow",
    "B6 915 from JFK",
    "flight AA100 on 12/25/2024",
    "on 2024-12-25 at 3:30 PM",
    "terminal 3 at 7:45am, gate B12",
    "the 3-1-1 rule",
    "Section 1540.111 of 49 CFR 1544",
    "Section 1540.111 2024",
    "between 3.4 100 200 3000",
    "+12 pieces, a +5 bonus",
    "my zip is 20001",
    "in 2024 I flew 1,500,000 miles",
    "price $1,299.99",
    "iPhone15 charger",
    "H1N1 vaccine and covid19 test",
    "a 1030pm flight",
    "bags of 23 kg, 50 lb, 62 in",
    "1 2 3 4 5 6 7",
    "10 20 30 40 50 60 70",
    "room 1001 1002 1003",
    "can i bring my power bank",
    "what about [phone] chargers",
]


@pytest.mark.parametrize(("text", "expected"), REDACTED)
def test_personal_data_is_replaced(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_ordinary_words_sizes_times_and_flights_stay(text: str) -> None:
    assert redact(text) == text
    assert personal_data(text) == []


def test_placeholders_name_what_was_there() -> None:
    out = redact("a@b.com 202-555-0123 A12345678")
    assert out.split() == [EMAIL, PHONE, NUMBER]


# Properties ------------------------------------------------------------------------------------------

ORDINARY_TOKENS = [
    "can", "I", "bring", "my", "power", "bank", "3.4 oz", "100 ml", "100Wh", "UA 123", "10:30", "gate B12",
    "2024", "on", "the", "plane", "DL1234", "a", "quart", "bag", "?", ",", "flight", "1 quart", "7:45am",
]  # fmt: skip
_ORDINARY = st.sampled_from(ORDINARY_TOKENS)
_AREA = st.integers(200, 999).map(str)
_LINE = st.integers(0, 9999).map(lambda n: f"{n:04d}")
_US_PHONE = st.builds(
    lambda fmt, a, b, c: fmt.format(a, b, c),
    st.sampled_from(["({}) {}-{}", "{}-{}-{}", "{}.{}.{}", "+1 {} {} {}", "1-{}-{}-{}", "{}{}{}"]),
    _AREA,
    _AREA,
    _LINE,
)


def _international(region: str) -> str:
    """libphonenumber's example number of the region, as written from abroad ("+44 20 7946 0958")."""
    example = phonenumbers.example_number(region)
    assert example is not None, region
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


_WORLD_PHONE = st.sampled_from(["GB", "DE", "FR", "IN", "MX", "BR", "JP", "AU", "NG", "CA"]).map(
    _international
)
_ID = st.one_of(
    st.from_regex(r"[A-Z][0-9]{8}", fullmatch=True),
    st.from_regex(r"TT[0-9]{7}", fullmatch=True),
    st.from_regex(r"[0-9]{6,12}", fullmatch=True),
)
_EMAIL = st.emails().filter(lambda e: len(e) < 80)
_PERSONAL = st.one_of(_US_PHONE, _WORLD_PHONE, _ID, _EMAIL)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=120))
def test_redact_is_idempotent_and_leaves_no_match_in_any_text(text: str) -> None:
    once = redact(text)
    assert redact(once) == once
    assert personal_data(once) == []


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_ORDINARY, _PERSONAL), max_size=12))
def test_every_planted_personal_datum_is_gone(parts: list[str]) -> None:
    text = " ".join(parts)
    out = redact(text)
    assert redact(out) == out
    assert personal_data(out) == []
    for part in parts:
        if part not in ORDINARY_TOKENS:
            assert part not in out, (text, out)


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(_ORDINARY, max_size=15))
def test_sentences_of_ordinary_tokens_are_untouched(parts: list[str]) -> None:
    # Joined by a word: bare numbers side by side ("123 2024 2024") are written like a phone number and
    # are meant to be redacted.
    text = " and ".join(parts)
    assert redact(text) == text


@settings(deadline=None, database=None)
@given(st.text(alphabet=st.characters(blacklist_categories=["Nd"], blacklist_characters="@"), max_size=200))
def test_text_without_digits_or_at_signs_is_never_changed(text: str) -> None:
    assert redact(text) == text
    assert personal_data(text) == []
