"""Random values of the fakes, the schemas that check them, and how their times are written."""

from __future__ import annotations

import json
import random
import re
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cache
from typing import Any

import phonenumbers
from faker import Faker
from jsonschema import Draft202012Validator

from ..clock import IST
from ..ids import call_sid
from ..spec import OPENAPI_DIR

_SCHEMA_DIR = OPENAPI_DIR / "callbacks"
_SCHEMA_SUFFIX = ".schema.json"

EVENTS: tuple[str, ...] = tuple(
    sorted(p.name.removesuffix(_SCHEMA_SUFFIX) for p in _SCHEMA_DIR.glob(f"*{_SCHEMA_SUFFIX}"))
)
# The events delivered as a POST to the client: all but the Connect applet's request (a GET the
# mock makes) and response (the client's answer to it).
POSTED_EVENTS: tuple[str, ...] = tuple(e for e in EVENTS if not e.startswith("connect_applet_"))

# Times fall in this window: fixed, so that a seed means the same payload on any day.
_WINDOW_START = datetime(2025, 1, 1, tzinfo=IST)
_WINDOW_END = datetime(2025, 12, 31, 23, 0, tzinfo=IST)

_RECORDINGS = "https://s3-ap-southeast-1.amazonaws.com/exotelrecordings"
# Area codes of the cities where the account's landlines (click-to-call, Connect) are.
_AREA_CODES = ("11", "22", "33", "40", "44", "80", "20", "79")


# -- schemas -------------------------------------------------------------------------------------


def _check_event(event: str) -> None:
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}; the events are: {', '.join(EVENTS)}")


@cache
def _schema(event: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        (_SCHEMA_DIR / f"{event}{_SCHEMA_SUFFIX}").read_text(encoding="utf-8")
    )
    return schema


@cache
def _validator(event: str) -> Draft202012Validator:
    return Draft202012Validator(_schema(event))


def _errors(event: str, payload: Any) -> list[str]:
    return [
        f"{'.'.join(map(str, e.absolute_path)) or '(payload)'}: {e.message}"
        for e in _validator(event).iter_errors(payload)
    ]


@cache
def _hangup_causes() -> dict[int, str]:
    """error_code -> error_description, as the voice_message_status schema pairs them."""
    pairs = _schema("voice_message_status")["$defs"]["hangup_cause"]["oneOf"]
    return {
        p["properties"]["error_code"]["const"]: p["properties"]["error_description"]["const"]
        for p in pairs
    }


# -- random values -------------------------------------------------------------------------------

_local = threading.local()


def _faker() -> Faker:
    # Building a Faker takes milliseconds; one per thread is reseeded for every payload instead.
    faker: Faker | None = getattr(_local, "faker", None)
    if faker is None:
        faker = _local.faker = Faker("en_IN")
    return faker


class _Source:
    """The random values of one payload (or one call sequence), all from one seed."""

    def __init__(self, seed: int | None, outcomes: Mapping[str, Any] | None = None) -> None:
        self.rng = random.Random(seed)
        self.faker = _faker()
        # Outcomes asked for by name (see `_OUTCOME_FIELDS`), drawn instead of at random.
        self.outcomes = dict(outcomes or {})
        self.faker.seed_instance(self.rng.getrandbits(64))

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def digits(self, length: int) -> str:
        return "".join(self.rng.choice("0123456789") for _ in range(length))

    def weighted(self, choices: Mapping[str, float], outcome: str | None = None) -> str:
        """A choice drawn by weight; the one asked for under `outcome`, when it is a choice
        (drawn all the same, so that the rest of the payload stays as the seed makes it)."""
        drawn = self.rng.choices(list(choices), weights=list(choices.values()))[0]
        wanted = self.outcomes.get(outcome) if outcome else None
        return wanted if isinstance(wanted, str) and wanted in choices else drawn

    def _valid(self, make: Callable[[], str]) -> str:
        for _ in range(100):
            number = make()
            if phonenumbers.is_valid_number(phonenumbers.parse(number, None)):
                return number
        raise RuntimeError("no valid phone number in 100 attempts")  # pragma: no cover

    def mobile(self) -> str:
        """An Indian mobile in E.164: +91 and ten digits, the first 6 to 9."""
        return self._valid(lambda: f"+91{self.rng.choice('6789')}{self.digits(9)}")

    def mobiles(self, count: int, avoid: set[str] | None = None) -> list[str]:
        """`count` distinct mobiles, none of them in `avoid`."""
        taken = set(avoid or ())
        found: list[str] = []
        while len(found) < count:
            number = self.mobile()
            if number not in taken:
                taken.add(number)
                found.append(number)
        return found

    def landline(self) -> str:
        """An Indian landline in E.164 (a city's area code and a subscriber number)."""

        def make() -> str:
            area = self.rng.choice(_AREA_CODES)
            return f"+91{area}{self.rng.choice('23456')}{self.digits(9 - len(area))}"

        return self._valid(make)

    def call_sid(self) -> str:
        return call_sid(self.rng)

    def uuid(self) -> str:
        return str(self.faker.uuid4())

    def moment(self) -> datetime:
        """A time in the window, whole seconds, in IST."""
        moment = self.faker.date_time_between(_WINDOW_START, _WINDOW_END, tzinfo=IST)
        return moment.replace(microsecond=0)

    def reference(self) -> str:
        """A client's identifier of something: an order, a booking, a ticket."""
        kind = self.rng.choice(("order", "booking", "ride", "ticket", "delivery"))
        form = self.rng.randrange(3)
        if form == 0:
            return f"{kind}-{self.digits(8)}"
        if form == 1:
            return f"{kind.upper()[:3]}{self.faker.bothify('??####??').upper()}"
        return self.uuid()

    def pin(self, length: int) -> str:
        return self.digits(length)

    def url(self, path: str = "") -> str:
        return self.faker.url(schemes=["https"]).rstrip("/") + path

    def account_sid(self) -> str:
        word = re.sub(r"[^a-z]", "", self.faker.last_name().lower()) or "exotel"
        return f"{word}{self.rng.randrange(1, 100)}"
