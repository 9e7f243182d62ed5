"""The payloads a handler is sent: realistic fakes covering the outcomes each schema allows.

Every case is a payload of `mock_server.fakes`, chosen by seed for the outcome it shows or given
one documented variation (a GreenVN allocation, a long non-ASCII identifier), and checked against
its event's schema here, so a handler that refuses one refuses something the provider may send.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from ..fakes import POSTED_EVENTS, call_sequence, fake
from ..spec import OPENAPI_DIR

__all__ = ["POSTED_EVENTS", "Case", "cases", "out_of_order", "with_unknown_member"]

# The events the provider POSTs; the Connect applet's request is a GET, its response an answer.

# 255 characters (the schemas' longest identifier) of scripts a handler's storage must keep:
# Devanagari, Latin with accents, CJK, Cyrillic and an emoji outside the Basic Multilingual Plane.
LONG_NAME = ("ऑर्डर-बेंगलुरु-Zoë-Ñandú-東京-Привет-🚚-" * 12)[:255]
# A GreenVN allocation as the callbacks carry it: its greenvn_id, its connection_id.
GREENVN = {"greenpin_id": "482193715", "transaction_id": "conn-2025-000917"}
UNKNOWN_MEMBER = "exomock_added_member"

_SEEDS = range(1, 2000)


@dataclass(frozen=True)
class Case:
    event: str
    title: str
    payload: dict[str, Any]


@cache
def _validator(event: str) -> Draft202012Validator:
    path = OPENAPI_DIR / "callbacks" / f"{event}.schema.json"
    return Draft202012Validator(json.loads(path.read_text(encoding="utf-8")))


def _checked(event: str, payload: dict[str, Any]) -> dict[str, Any]:
    errors = [e.message for e in _validator(event).iter_errors(payload)]
    if errors:  # pragma: no cover - a defect of a case below
        raise RuntimeError(f"a {event} case breaks its schema: {'; '.join(errors)}")
    return payload


def _find(event: str, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The payload of the first seed that shows the wanted outcome (the same on every run)."""
    for seed in _SEEDS:
        payload = fake(event, seed=seed)
        if wanted(payload):
            return payload
    raise RuntimeError(f"no {event} fake shows the wanted outcome")  # pragma: no cover


def _without(payload: dict[str, Any], member: str) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k != member}


def _call_completed() -> list[tuple[str, dict[str, Any]]]:
    def status(value: str) -> Callable[[dict[str, Any]], bool]:
        return lambda p: p["dial_call_status"] == value

    found: list[tuple[str, dict[str, Any]]] = [
        ("completed, recorded", _find("call_completed", lambda p: p["recording_url"] is not None)),
        (
            "completed, not recorded (recording_url null)",
            _find("call_completed", lambda p: p["call_type"] == "completed"
                  and p["recording_url"] is None),
        ),
    ]
    found += [
        (f"incomplete: {value}", _find("call_completed", status(value)))
        for value in ("busy", "no-answer", "failed")
    ]
    found.append(("caller hung up before the other party was dialled (canceled)",
                  _find("call_completed", status("canceled"))))
    return found


def _deallocation() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("PINs for both parties", _find("deallocation", lambda p: bool(p["bparty_pins"]))),
        ("no b-party PINs (empty list)", _find("deallocation", lambda p: p["bparty_pins"] == [])),
        ("one-way usage", _find("deallocation", lambda p: p["usage"] == "oneway")),
        ("state active, as the documented example", fake("deallocation", seed=3,
                                                          overrides={"state": "active"})),
    ]


def _verification_succeeded() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("a new caller joins the a party", fake("verification_succeeded", seed=1)),
        ("without call_sid (the documented table omits it)",
         _without(fake("verification_succeeded", seed=2), "call_sid")),
    ]


def _verification_failed() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("wrong PIN entered", _find("verification_failed", lambda p: p["pin"] != "")),
        ("no PIN entered (empty pin)", _find("verification_failed", lambda p: p["pin"] == "")),
    ]


def _click_to_call_status() -> list[tuple[str, dict[str, Any]]]:
    def terminal(status: str) -> Callable[[dict[str, Any]], bool]:
        return lambda p: p["call_details"]["status"] == status

    found = [
        ("answered: status, end time and durations null",
         _find("click_to_call_status", lambda p: p["call_details"]["state"] == "active")),
        ("terminal: completed, recorded",
         _find("click_to_call_status", lambda p: bool(p["call_details"]["recordings"]))),
    ]
    found += [
        (f"terminal: {status}", _find("click_to_call_status", terminal(status)))
        for status in ("busy", "no-answer", "failed", "canceled")
    ]
    return found


def _voice_message_status() -> list[tuple[str, dict[str, Any]]]:
    def first(status: str) -> Callable[[dict[str, Any]], bool]:
        return lambda p: p["data"][0]["status"] == status

    delivered = _find("voice_message_status", first("DELIVRD"))
    as_strings = copy.deepcopy(delivered)
    for member in ("ring_date", "answer_date", "hang_date"):
        as_strings["data"][0][member] = str(as_strings["data"][0][member])
    return [
        ("delivered (DELIVRD)", delivered),
        ("undelivered, with a hangup cause (UNDELIV)", _find("voice_message_status",
                                                               first("UNDELIV"))),
        ("rejected: ring, answer and hang dates false (REJECTD)",
         _find("voice_message_status", first("REJECTD"))),
        ("ring, answer and hang dates as strings of digits", as_strings),
        ("several recipients, no client_job_id",
         _find("voice_message_status", lambda p: len(p["data"]) > 1 and "client_job_id" not in p)),
    ]


_OUTCOMES: dict[str, Callable[[], list[tuple[str, dict[str, Any]]]]] = {
    "call_completed": _call_completed,
    "click_to_call_status": _click_to_call_status,
    "deallocation": _deallocation,
    "verification_failed": _verification_failed,
    "verification_succeeded": _verification_succeeded,
    "voice_message_status": _voice_message_status,
}
# Events whose payload names a GreenPin or, with the same members, a GreenVN allocation.
_GREENVN_EVENTS = ("call_completed", "deallocation", "verification_succeeded")
# Where each event carries a free-text identifier of the client's.
_NAME_MEMBER = {
    "call_completed": "transaction_id",
    "click_to_call_status": "call_details.custom_field",
    "deallocation": "transaction_id",
    "verification_succeeded": "transaction_id",
    "voice_message_status": "client_job_id",
}


@cache
def cases(event: str) -> tuple[Case, ...]:
    """The payloads of `event` a handler must take with a 2xx, each titled by what it shows."""
    found = list(_OUTCOMES[event]())
    member = _NAME_MEMBER.get(event)
    if member is not None:
        found.append((f"{member} of 255 non-ASCII characters",
                      fake(event, seed=11, overrides={member: LONG_NAME})))
    if event in _GREENVN_EVENTS:
        found.append(("a GreenVN allocation (greenvn_id digits, connection_id)",
                      fake(event, seed=12, overrides=GREENVN)))
    return tuple(Case(event, title, _checked(event, payload)) for title, payload in found)


def with_unknown_member(event: str) -> dict[str, Any]:
    """A valid payload with one member no schema knows: what an additive change looks like."""
    payload = copy.deepcopy(cases(event)[0].payload)
    payload[UNKNOWN_MEMBER] = "a member added after this handler was written"
    return payload


def out_of_order(events: tuple[str, ...]) -> list[Case] | None:
    """One call's callbacks in the reverse of the order they happen, sharing ids; None when
    fewer than two of them are among `events`."""
    sequence = max(
        ([(e, p) for e, p in call_sequence(seed=5, verified=verified) if e in events]
         for verified in (True, False)),
        key=len,
    )
    if len(sequence) >= 2:
        return [Case(e, e, p) for e, p in reversed(sequence)]
    if "click_to_call_status" not in events:
        return None
    # The same click-to-call's terminal event before its answered one.
    terminal = _find("click_to_call_status", lambda p: p["call_details"]["status"] == "completed")
    answered = copy.deepcopy(terminal)
    answered["event_details"]["event_type"] = "answered"
    details = answered["call_details"]
    details.update(state="active", status=None, end_time=None, total_duration=None,
                   total_talk_time=None, recordings=None)
    return [
        Case("click_to_call_status", "terminal", terminal),
        Case("click_to_call_status", "answered", _checked("click_to_call_status", answered)),
    ]
