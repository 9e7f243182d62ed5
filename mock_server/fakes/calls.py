"""Fake click-to-call status callbacks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..numbers import national
from .source import (
    _RECORDINGS,
    _iso,
    _Source,
)

_CLICK_TO_CALL_OUTCOMES = {
    "completed": 0.65,
    "busy": 0.1,
    "no-answer": 0.15,
    "failed": 0.05,
    "canceled": 0.05,
}


def _gen_click_to_call_status(src: _Source) -> dict[str, Any]:
    sid = src.call_sid()
    account = src.account_sid()
    created = src.moment()
    start = created + timedelta(seconds=src.rng.randint(0, 1))
    # The first leg (the agent, `from`) rings and answers before the customer (`to`) is dialled.
    first_leg = src.rng.randint(3, 15)
    second_ring = src.rng.randint(3, 25)
    answered_at = start + timedelta(seconds=first_leg + second_ring)
    event_type = "answered" if src.chance(0.3) else "terminal"
    if src.outcomes.get("call_details.status") in _CLICK_TO_CALL_OUTCOMES:
        event_type = "terminal"  # only a terminal event has a status
    details: dict[str, Any] = {
        "sid": sid,
        "direction": "outbound",
        "virtual_number": national(src.landline()),
        "state": "active",
        "status": None,
        "legs": f"/v3/accounts/{account}/calls/{sid}/legs",
        "created_time": _iso(created),
        "updated_time": _iso(answered_at),
        "start_time": _iso(start),
        "end_time": None,
        "total_duration": None,
        "total_talk_time": None,
        "custom_field": src.reference() if src.chance(0.5) else None,
        "app_id": None,
        "app_name": None,
        "digits": None,
        "recordings": None,
    }
    if event_type == "terminal":
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
        end = start + timedelta(seconds=total)
        details.update(
            state="terminal",
            status=status,
            end_time=_iso(end),
            updated_time=_iso(end + timedelta(seconds=src.rng.randint(0, 2))),
            total_duration=total,
            total_talk_time=talk,
        )
        if status == "completed" and src.chance(0.85):
            details["recordings"] = [
                {
                    "url": f"{_RECORDINGS}/{account}/{sid}.mp3",
                    "channels": "dual" if src.chance(0.3) else "single",
                }
            ]
    return {"event_details": {"event_type": event_type}, "call_details": details}
