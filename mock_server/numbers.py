"""Phone numbers: what requests may give, and the E.164 form every answer uses."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

DEFAULT_REGION = "IN"

# The common forms of an Indian number (+91 and 10 digits, 10 digits, 0 and 10 digits) are
# checked against phonenumbers' own metadata for India directly: the same patterns
# `is_valid_number` applies, without its parsing, which dominated the cost of a request.
_INDIAN = re.compile(r"(?:\+91|0)?([1-9][0-9]{9})")
_IN_METADATA = phonenumbers.PhoneMetadata.metadata_for_region(DEFAULT_REGION)
assert _IN_METADATA is not None, "phonenumbers ships metadata for India"
assert _IN_METADATA.general_desc is not None
_IN_GENERAL = re.compile(str(_IN_METADATA.general_desc.national_number_pattern))
# A number is valid when the general pattern and the pattern of one number type match it; the
# types are joined into one alternation so that one match call tries them all.
_IN_TYPED = re.compile(
    "|".join(
        f"(?:{desc.national_number_pattern})"
        for desc in (
            _IN_METADATA.fixed_line,
            _IN_METADATA.mobile,
            _IN_METADATA.toll_free,
            _IN_METADATA.premium_rate,
            _IN_METADATA.shared_cost,
            _IN_METADATA.personal_number,
            _IN_METADATA.voip,
            _IN_METADATA.pager,
            _IN_METADATA.uan,
            _IN_METADATA.voicemail,
        )
        if desc is not None and desc.national_number_pattern
    )
)


class InvalidNumber(ValueError):
    pass


# No number in any form is longer: a longer text is refused before the cache, which then holds
# at most 65,536 short keys (a few MB).
LONGEST_NUMBER_TEXT = 32


def to_e164(text: str) -> str:
    """E.164 for a valid number given as E.164 or in national Indian form; else InvalidNumber."""
    if len(text) > LONGEST_NUMBER_TEXT:
        raise InvalidNumber(f"{text[:LONGEST_NUMBER_TEXT]!r}... is too long for a phone number")
    return _to_e164(text)


@lru_cache(maxsize=65536)
def _to_e164(text: str) -> str:
    plain = _INDIAN.fullmatch(text)
    if plain is not None:
        significant = plain.group(1)
        if _IN_GENERAL.fullmatch(significant) and _IN_TYPED.fullmatch(significant):
            return "+91" + significant
    try:
        parsed = phonenumbers.parse(text, DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(f"{text!r} is not a phone number") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidNumber(f"{text!r} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def national(e164: str) -> str:
    """The national form with the trunk 0 (`08516043026`), as the provider's applet queries show."""
    parsed = phonenumbers.parse(e164, None)
    return "0" + str(parsed.national_number)
