"""What the programmable Connect applet works with: the client's answer (`ConnectAnswer`, its
`Options`), each destination and what became of it (`Dial`). The applet itself is in
`connect.py`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .call_model import DEFAULT_MAX_TIME_LIMIT
from .deliveries import Delivery

# The applet's ring time and call limit when the answer gives none.
DEFAULT_RINGING_SECONDS = 30
MAX_FETCHES = 10

# How a destination ended, in the call record.
DIALLED_CONNECTED = "connected"
SKIPPED = "skipped"
TO_DIAL = "to-dial"

class ConnectAnswer(Protocol):
    """What the fetch gives back (`callbacks.connect_fetch.ConnectFetch`): the answer, or what is
    wrong with it, and the request as the callback log shows it."""

    answer: dict[str, Any] | None
    errors: list[str]
    delivery: Delivery


Fetch = Callable[[str, str, dict[str, str]], Awaitable[ConnectAnswer]]


@dataclass
class Dial:
    """One destination of an answer and what became of it."""

    contact_uri: str  # as the answer gave it
    number: str | None  # E.164, or the `sip:` address; None when not a valid number
    attempt: int | None = None
    status: str = SKIPPED
    reason: str = ""
    started_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None

    @property
    def dialled(self) -> bool:
        return self.started_at is not None

    def as_json(self, call_start: float, call_end: float) -> dict[str, Any]:
        if self.started_at is None:
            offset = None
            dial_duration = talk = 0
        else:
            offset = int(self.started_at - call_start)
            end = self.ended_at if self.ended_at is not None else call_end
            dial_duration = int(end - self.started_at)
            talk = 0 if self.answered_at is None else int(end - self.answered_at)
        return {
            "contact_uri": self.contact_uri,
            "attempt": self.attempt,
            "status": self.status,
            "reason": self.reason,
            "start_offset": offset,
            "dial_call_duration": dial_duration,
            "on_call_duration": talk,
        }


@dataclass(frozen=True)
class Options:
    """The answer's settings, with the applet's defaults where it gives none."""

    state_management: bool
    sticky_agent: bool
    fetch_after_attempt: bool
    ring_seconds: int
    max_talk_seconds: int
    parallel: int  # destinations ringing at once
    record: bool
    channels: str

    @classmethod
    def of(cls, answer: dict[str, Any]) -> Options:
        parallel = answer.get("parallel_ringing") or {}
        recording = answer.get("recording") or {}
        width = (
            parallel.get("max_parallel_attempts", len(answer["destination"]))
            if parallel.get("activate")
            else 1
        )
        return cls(
            state_management=answer.get("state_management", False),
            sticky_agent=answer.get("sticky_agent", False),
            fetch_after_attempt=answer.get("fetch_after_attempt", False),
            ring_seconds=answer.get("max_ringing_duration", DEFAULT_RINGING_SECONDS),
            max_talk_seconds=answer.get("max_conversation_duration", DEFAULT_MAX_TIME_LIMIT),
            parallel=max(1, width),
            record=recording.get("record", False),
            channels=recording.get("channels", "single"),
        )
