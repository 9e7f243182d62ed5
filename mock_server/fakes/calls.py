"""Fake click-to-call status callbacks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..domain import payloads
from .source import _RECORDINGS, _Source

_CLICK_TO_CALL_OUTCOMES = {
    "completed": 0.65,
    "busy": 0.1,
    "no-answer": 0.15,
    "failed": 0.05,
    "canceled": 0.05,
}


@dataclass(frozen=True)
class _Course:
    """How far the call has come; as made, an answered call, still active. Times epoch seconds."""

    updated: float
    state: str = "active"
    status: str | None = None
    end: float | None = None
    total_duration: int | None = None
    total_talk_time: int | None = None
    recording_url: str | None = None
    channels: str = "single"


def _gen_click_to_call_status(src: _Source) -> dict[str, Any]:
    sid = src.call_sid()
    account = src.account_sid()
    created = src.moment().timestamp()
    start = created + src.rng.randint(0, 1)
    # The first leg (the agent, `from`) rings and answers before the customer (`to`) is dialled.
    first_leg = src.rng.randint(3, 15)
    second_ring = src.rng.randint(3, 25)
    event_type = "answered" if src.chance(0.3) else "terminal"
    if src.outcomes.get("call_details.status") in _CLICK_TO_CALL_OUTCOMES:
        event_type = "terminal"  # only a terminal event has a status
    virtual_number = src.landline()
    custom_field = src.reference() if src.chance(0.5) else None
    course = _Course(updated=start + first_leg + second_ring)
    if event_type == "terminal":
        course = _ended(src, f"{_RECORDINGS}/{account}/{sid}.mp3", start, first_leg, second_ring)
    details = payloads.call_details(
        sid=sid,
        account=account,
        direction="outbound",
        virtual_number=virtual_number,
        state=course.state,
        status=course.status,
        created=created,
        updated=course.updated,
        start=start,
        end=course.end,
        total_duration=course.total_duration,
        total_talk_time=course.total_talk_time,
        custom_field=custom_field,
        recording_url=course.recording_url,
        channels=course.channels,
    )
    return payloads.click_to_call_status(event_type, details)


def _ended(src: _Source, recording: str, start: float, first_leg: int, second_ring: int) -> _Course:
    """The call's end: an outcome, and the durations and times that follow from it."""
    status = src.weighted(_CLICK_TO_CALL_OUTCOMES, "call_details.status")
    talk = 0
    if status == "completed":
        talk = min(int(src.rng.lognormvariate(4.5, 1.0)) + 1, 3600)
        total = first_leg + second_ring + talk
    elif status == "no-answer":
        total = first_leg + src.rng.randint(25, 45)
    elif status == "canceled":
        total = src.rng.randint(0, first_leg)
    else:  # busy, failed
        total = first_leg + src.rng.randint(0, 5)
    end = start + total
    updated = end + src.rng.randint(0, 2)
    if status == "completed" and src.chance(0.85):
        channels = "dual" if src.chance(0.3) else "single"
        return _Course(updated, "terminal", status, end, total, talk, recording, channels)
    return _Course(updated, "terminal", status, end, total, talk)
