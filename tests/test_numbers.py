"""Numbers: the fast path for Indian numbers answers exactly as phonenumbers does."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from mock_server.numbers import InvalidNumber, _to_e164, to_e164


def reference(text: str) -> str | None:
    try:
        parsed = phonenumbers.parse(text, "IN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def ours(text: str) -> str | None:
    _to_e164.cache_clear()
    try:
        return to_e164(text)
    except InvalidNumber:
        return None


def test_agrees_with_phonenumbers_on_random_indian_numbers():
    rng = random.Random(20261123)
    checked = valid = 0
    for _ in range(20_000):
        digits = f"{rng.randrange(1, 10)}{rng.randrange(10**9):09d}"
        for text in (digits, "0" + digits, "+91" + digits):
            expected = reference(text)
            assert ours(text) == expected, text
            checked += 1
            valid += expected is not None
    assert checked == 60_000
    assert 0 < valid < checked  # both kinds were exercised


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7987686144", "+917987686144"),
        ("07987686144", "+917987686144"),
        ("+917987686144", "+917987686144"),
        ("+91 79876 86144", "+917987686144"),
        ("+14155552671", "+14155552671"),
        ("02235499102", "+912235499102"),
    ],
)
def test_forms(text, expected):
    assert ours(text) == expected


@pytest.mark.parametrize("text", ["12345", "+91987650000100", "0000000000", "abc", ""])
def test_invalid(text):
    assert ours(text) is None
