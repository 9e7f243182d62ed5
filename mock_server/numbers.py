"""Phone numbers: what requests may give, and the E.164 form every answer uses."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

DEFAULT_REGION = "IN"


class InvalidNumber(ValueError):
    pass


@lru_cache(maxsize=65536)
def to_e164(text: str) -> str:
    """E.164 for a valid number given as E.164 or in national Indian form; else InvalidNumber."""
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
