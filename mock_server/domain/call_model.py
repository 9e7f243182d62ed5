"""Calls and legs as plain Python: what a call is, how its parties behave (the magic numbers), and
the spec's vocabulary for its states. How calls live on the clock is `calls.py`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum

from ..errors import InvalidCallRequest
from ..numbers import national

RING_SECONDS = 3
TALK_SECONDS = 10
REFUSE_SECONDS = 1
DEFAULT_ATTEMPT_TIME_OUT = 45
DEFAULT_MAX_TIME_LIMIT = 14400
PRICE_PER_MINUTE = Decimal("0.500")
RECORDING_URL = "https://recordings.exomock.invalid/{account}/{sid}.mp3"

class Behaviour(StrEnum):
    """How a party behaves, chosen by the last four digits of its number."""

    ANSWERS = "answers"
    NEVER_ANSWERS = "never-answers"
    REFUSES_BUSY = "busy"
    FAILS = "fails"
    NEVER_HANGS_UP = "never-hangs-up"


MAGIC_SUFFIXES = {
    "0000": Behaviour.NEVER_ANSWERS,
    "0001": Behaviour.REFUSES_BUSY,
    "0002": Behaviour.FAILS,
    "0003": Behaviour.NEVER_HANGS_UP,
}

# -- the vocabulary of the spec --------------------------------------------------------------------

class CallState(StrEnum):
    ACTIVE = "active"
    TERMINAL = "terminal"


class CallStatus(StrEnum):
    """How a call or a leg ended."""

    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    CANCELED = "canceled"


ANSWERED_EVENT = "answered"
TERMINAL_EVENT = "terminal"
STATUS_CALLBACK = "click_to_call_status"
OUTCOMES: dict[str, CallStatus] = {
    Behaviour.NEVER_ANSWERS: CallStatus.NO_ANSWER,
    Behaviour.REFUSES_BUSY: CallStatus.BUSY,
    Behaviour.FAILS: CallStatus.FAILED,
}
V1_STATUSES: dict[str, str] = {
    CallStatus.COMPLETED: "completed",
    CallStatus.BUSY: "busy",
    CallStatus.NO_ANSWER: "no-answer",
    CallStatus.FAILED: "failed",
    CallStatus.CANCELED: "no-answer",
}
V1_DIRECTION = "outbound-api"
V1_INBOUND = "inbound"
OUTBOUND = "outbound"
INBOUND = "inbound"

class Phase(StrEnum):
    """Where a click-to-call is in its lifecycle."""

    DIALLING_FROM = "dialling_from"
    DIALLING_TO = "dialling_to"
    TALKING = "talking"
    ENDED = "ended"


def invalid_body(description: str) -> InvalidCallRequest:
    """The refusal of a body that fails parsing or validation."""
    return InvalidCallRequest(description)


def behaviour(number: str) -> str:
    return MAGIC_SUFFIXES.get(number[-4:], Behaviour.ANSWERS)


def answer_number(e164: str) -> str:
    """A number as the voice APIs answer it: Indian ones nationally with the trunk 0."""
    return national(e164) if e164.startswith("+91") else e164


@dataclass(frozen=True)
class CallRequest:
    """A checked click-to-call body; numbers as the client gave them."""

    from_contact: str
    to_contact: str
    virtual_number: str
    state_management: bool = False
    record: bool = False
    channels: str = "single"
    max_time_limit: int = DEFAULT_MAX_TIME_LIMIT
    attempt_time_out: int = DEFAULT_ATTEMPT_TIME_OUT
    custom_field: str | None = None
    # event -> URL
    status_callbacks: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Leg:
    sid: str
    leg_number: int
    contact: str  # E.164
    created_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    status: str | None = None
    direction: str = OUTBOUND

    @property
    def active(self) -> bool:
        return self.ended_at is None


@dataclass
class Script:
    """The course of an incoming call, decided when it came in and played out on the clock.

    `legs` are the legs as they will be, in the order dialled; a leg still talking at the end
    has no `ended_at` (the call's end ends it). `connected` is the index of the leg connected to
    the caller, if any.
    """

    legs: list[Leg]
    ends_at: float
    status: str
    connected: int | None = None

    def times(self) -> list[float]:
        found = {self.ends_at}
        for leg in self.legs:
            times = (leg.created_at, leg.answered_at, leg.ended_at)
            found.update(t for t in times if t is not None)
        return sorted(found)


@dataclass
class CallRecord:
    sid: str
    tenant_id: str
    seq: int
    from_number: str  # E.164
    to_number: str  # E.164
    virtual_number: str  # E.164
    state_management: bool
    record: bool
    channels: str
    max_time_limit: int
    attempt_time_out: int
    custom_field: str | None
    status_callbacks: dict[str, str]
    created_at: float
    updated_at: float
    phase: str = Phase.DIALLING_FROM
    next_at: float | None = None
    legs: list[Leg] = field(default_factory=list)
    talk_started_at: float | None = None
    ended_at: float | None = None
    status: str | None = None
    # The v1 direction: `outbound-api` (click-to-call, connect.json) or `inbound`.
    direction: str = V1_DIRECTION
    script: Script | None = None
    # Who the caller of an incoming call is talking to (E.164 or `sip:`), once answered.
    connected_to: str | None = None

    @property
    def active(self) -> bool:
        return self.phase != Phase.ENDED

    @property
    def managed_number(self) -> str | None:
        """The user this call makes busy under state management while it is active: a
        click-to-call's `from`, an incoming call's connected destination."""
        if not self.state_management:
            return None
        return self.connected_to if self.script is not None else self.from_number

    @property
    def state(self) -> str:
        return CallState.ACTIVE if self.active else CallState.TERMINAL

    @property
    def total_duration(self) -> int | None:
        return None if self.ended_at is None else int(self.ended_at - self.created_at)

    @property
    def total_talk_time(self) -> int | None:
        if self.ended_at is None:
            return None
        if self.talk_started_at is None:
            return 0
        return int(self.ended_at - self.talk_started_at)

    @property
    def recording_url(self) -> str | None:
        if not self.record or self.active or self.talk_started_at is None:
            return None
        return RECORDING_URL.format(account=self.tenant_id, sid=self.sid)

    @property
    def price(self) -> Decimal | None:
        duration = self.total_duration
        if duration is None:
            return None
        if not any(leg.answered_at is not None for leg in self.legs):
            return Decimal("0.000")
        return PRICE_PER_MINUTE * math.ceil(duration / 60)

    @property
    def v1_status(self) -> str:
        return "in-progress" if self.status is None else V1_STATUSES[self.status]

    def copy(self) -> CallRecord:
        """A copy to change: a stored call is never changed in place (its script, decided when
        the call came in, is never changed and stays shared)."""
        return replace(self, legs=[replace(leg) for leg in self.legs])
