"""Realistic fake callback payloads, for testing webhook handlers without running the mock.

    >>> from mock_server.fakes import fake, call_sequence
    >>> payload = fake("call_completed", seed=7)
    >>> payload = fake("deallocation", overrides={"usage": "oneway"})
    >>> events = call_sequence(seed=7, answered=False)

Every payload is checked against its schema (`openapi/callbacks/<event>.schema.json`) before it
is returned. Numbers are valid Indian numbers (mobiles `+91` and ten digits starting 6-9,
landlines for the account's numbers), ids are UUIDs and 32-character call SIDs, times fall in
2025 (a fixed window, so that a seed gives the same payload whatever the day) and the values of
one payload agree with each other: a call ends after it starts, the talk time is part of the dial
time, the timestamps are as far apart as the durations say, and only an answered call has a
recording.

A seed makes the result repeatable: `fake(event, seed=s)` is the same payload in every process.
Only local `random.Random` and `Faker` instances are used; the global `random` is left alone.
"""

from __future__ import annotations

import copy
import json
import math
import random
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cache
from typing import Any

import phonenumbers
from faker import Faker
from jsonschema import Draft202012Validator

from .clock import IST
from .domain import payloads
from .ids import call_sid
from .numbers import national
from .spec import OPENAPI_DIR

__all__ = ["EVENTS", "call_sequence", "fake", "fake_many"]

_SCHEMA_DIR = OPENAPI_DIR / "callbacks"
_SCHEMA_SUFFIX = ".schema.json"

EVENTS: tuple[str, ...] = tuple(
    sorted(p.name.removesuffix(_SCHEMA_SUFFIX) for p in _SCHEMA_DIR.glob(f"*{_SCHEMA_SUFFIX}"))
)

# Times fall in this window: fixed, so that a seed means the same payload on any day.
_WINDOW_START = datetime(2025, 1, 1, tzinfo=IST)
_WINDOW_END = datetime(2025, 12, 31, 23, 0, tzinfo=IST)

_RECORDINGS = "https://s3-ap-southeast-1.amazonaws.com/exotelrecordings"
# Area codes of the cities where the account's landlines (click-to-call, Connect) are.
_AREA_CODES = ("11", "22", "33", "40", "44", "80", "20", "79")
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


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


def _iso(moment: datetime, tz: timezone = IST) -> str:
    return moment.astimezone(tz).isoformat(timespec="seconds")


def _local_time(moment: datetime) -> str:
    return moment.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")


def _created(moment: datetime) -> str:
    """`Thu, 10 Nov 2022 12:18:36`, in IST, whatever the process's locale."""
    m = moment.astimezone(IST)
    return f"{_WEEKDAYS[m.weekday()]}, {m.day:02d} {_MONTHS[m.month - 1]} {m.year} {m:%H:%M:%S}"


# -- the ExoBridge model: one allocation, one call on it -----------------------------------------


@dataclass
class _Allocation:
    transaction_id: str
    greenpin_id: str
    usage: str
    a_numbers: list[str]
    b_numbers: list[str]
    a_vns: list[str]
    b_vns: list[str]
    a_pins: list[str]
    b_pins: list[str]

    @classmethod
    def make(cls, src: _Source) -> _Allocation:
        a_numbers = src.mobiles(src.rng.choice((1, 1, 1, 2)))
        b_numbers = src.mobiles(src.rng.choice((1, 1, 1, 2)), avoid=set(a_numbers))
        # VNs come from a pool, so the two parties may share one (as in the document's example).
        pool = src.mobiles(3, avoid={*a_numbers, *b_numbers})
        a_vns = src.rng.sample(pool, src.rng.choice((1, 2)))
        b_vns = src.rng.sample(pool, src.rng.choice((1, 2)))
        pin_length = src.rng.choice((3, 4, 4, 4, 5, 6))
        # PINs are on for the a party (as the demo tenant has it), sometimes for b as well.
        a_pins = [src.pin(pin_length)]
        b_pins = [src.pin(pin_length)] if src.chance(0.3) else []
        return cls(
            transaction_id=src.reference(),
            greenpin_id=src.uuid(),
            usage="twoway" if src.chance(0.8) else "oneway",
            a_numbers=a_numbers,
            b_numbers=b_numbers,
            a_vns=a_vns,
            b_vns=b_vns,
            a_pins=a_pins,
            b_pins=b_pins,
        )


# dial_call_status -> how likely it is for a call on an allocation.
_CALL_OUTCOMES = {"completed": 0.6, "busy": 0.1, "no-answer": 0.15, "failed": 0.05, "canceled": 0.1}
_NOT_ANSWERED = ("busy", "no-answer", "failed", "canceled")


@dataclass
class _Call:
    call_sid: str
    caller: str
    vn: str
    callee: str  # the other party's number, dialled when the call gets that far
    start: datetime
    pre_dial: int  # seconds before the other party is dialled (greeting, PIN entry)
    ring: int  # seconds the other party's leg rang
    talk: int  # seconds the parties talked
    post: int  # seconds between the end of the call and the request
    status: str  # dial_call_status
    call_type: str
    recorded: bool = False

    @property
    def dial_duration(self) -> int:
        return self.ring + self.talk

    @property
    def current(self) -> datetime:
        return self.start + timedelta(seconds=self.pre_dial + self.dial_duration + self.post)

    @classmethod
    def make(
        cls,
        src: _Source,
        *,
        caller: str,
        vn: str,
        callee: str,
        status: str,
        verifying: bool = False,
        call_type: str | None = None,
    ) -> _Call:
        talk, ring = 0, 0
        if status == "completed":
            ring = src.rng.randint(3, 25)
            # Most calls last a few minutes, some are long.
            talk = min(int(src.rng.lognormvariate(4.5, 1.0)) + 1, 3600)
        elif status == "busy":
            ring = src.rng.randint(1, 5)
        elif status == "no-answer":
            ring = src.rng.randint(20, 45)
        elif status == "failed":
            ring = src.rng.randint(0, 3)
        default_type = {"completed": "completed", "canceled": "client-hangup"}
        return cls(
            call_sid=src.call_sid(),
            caller=caller,
            vn=vn,
            callee=callee,
            start=src.moment(),
            pre_dial=src.rng.randint(6, 20) if verifying else src.rng.randint(1, 6),
            ring=ring,
            talk=talk,
            post=src.rng.randint(0, 2),
            status=status,
            call_type=call_type or default_type.get(status, "incomplete"),
            recorded=status == "completed" and src.chance(0.85),
        )


def _call_completed(allocation: _Allocation, call: _Call) -> dict[str, Any]:
    recording = f"{_RECORDINGS}/exobridge/{call.call_sid}.mp3" if call.recorded else None
    return payloads.call_completed(
        transaction_id=allocation.transaction_id,
        greenpin_id=allocation.greenpin_id,
        call_sid=call.call_sid,
        vn=call.vn,
        caller=call.caller,
        connected_to=call.callee if call.status == "completed" else None,
        call_type=call.call_type,
        start=call.start.timestamp(),
        current=call.current.timestamp(),
        dial_call_duration=call.dial_duration,
        on_call_duration=call.talk,
        dial_call_status=call.status,
        recording_url=recording,
    )


def _deallocation(allocation: _Allocation) -> dict[str, Any]:
    # Sent once the allocation is deallocated; the mock says vault too.
    return payloads.deallocation(
        transaction_id=allocation.transaction_id,
        greenpin_id=allocation.greenpin_id,
        usage=allocation.usage,
        a_numbers=allocation.a_numbers,
        b_numbers=allocation.b_numbers,
        a_vns=allocation.a_vns,
        b_vns=allocation.b_vns,
        a_pins=allocation.a_pins,
        b_pins=allocation.b_pins,
        state="vault",
    )


def _verification_succeeded(allocation: _Allocation, call: _Call, pin: str) -> dict[str, Any]:
    return payloads.verification_succeeded(
        transaction_id=allocation.transaction_id, greenpin_id=allocation.greenpin_id,
        call_sid=call.call_sid, vn=call.vn, caller=call.caller, pin=pin,
    )


def _verification_failed(call: _Call, pin: str) -> dict[str, Any]:
    return payloads.verification_failed(
        call_sid=call.call_sid, vn=call.vn, caller=call.caller, pin=pin,
        start=call.start.timestamp(),
    )


def _wrong_pin(src: _Source, allocation: _Allocation) -> str:
    """What an unregistered caller enters that is no PIN of the allocation; empty when nothing."""
    if src.chance(0.2):
        return ""
    pins = {*allocation.a_pins, *allocation.b_pins}
    length = len(allocation.a_pins[0])
    while True:
        pin = src.pin(length)
        if pin not in pins:
            return pin


def _a_call(src: _Source, allocation: _Allocation, status: str) -> _Call:
    """A call from an a-party member to one of the a party's VNs, for the b party."""
    return _Call.make(
        src,
        caller=src.rng.choice(allocation.a_numbers),
        vn=src.rng.choice(allocation.a_vns),
        callee=src.rng.choice(allocation.b_numbers),
        status=status,
    )


def _joining_call(src: _Source, allocation: _Allocation, status: str, verified: bool) -> _Call:
    """A call from a new number, entering a PIN of the a party to reach the b party."""
    known = {*allocation.a_numbers, *allocation.b_numbers, *allocation.a_vns, *allocation.b_vns}
    return _Call.make(
        src,
        caller=src.mobiles(1, avoid=known)[0],
        vn=src.rng.choice(allocation.a_vns),
        callee=src.rng.choice(allocation.b_numbers),
        status=status if verified else "canceled",
        verifying=True,
        # An unverified caller is never put through.
        call_type=None if verified else "call-attempt",
    )


# -- the events ----------------------------------------------------------------------------------


def _gen_call_completed(src: _Source) -> dict[str, Any]:
    allocation = _Allocation.make(src)
    status = src.weighted(_CALL_OUTCOMES, "dial_call_status")
    return _call_completed(allocation, _a_call(src, allocation, status))


def _gen_deallocation(src: _Source) -> dict[str, Any]:
    return _deallocation(_Allocation.make(src))


def _gen_verification_succeeded(src: _Source) -> dict[str, Any]:
    allocation = _Allocation.make(src)
    call = _joining_call(src, allocation, "completed", verified=True)
    return _verification_succeeded(allocation, call, allocation.a_pins[0])


def _gen_verification_failed(src: _Source) -> dict[str, Any]:
    allocation = _Allocation.make(src)
    call = _joining_call(src, allocation, "canceled", verified=False)
    return _verification_failed(call, _wrong_pin(src, allocation))


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


def _gen_connect_applet_request(src: _Source) -> dict[str, Any]:
    start = src.moment()
    ivr = src.rng.randint(1, 20)
    payload = {
        "CallSid": src.call_sid(),
        "From": national(src.mobile()),
        "To": national(src.landline()),
        "Direction": "incoming",
        "DialCallDuration": "0",
        "StartTime": _local_time(start),
        "CurrentTime": _local_time(start + timedelta(seconds=ivr)),
        "Created": _created(start),
        "DialWhomNumber": "",
    }
    if src.chance(0.3):
        # With fetch_after_attempt, the request after an unsuccessful attempt names it.
        dialled = src.rng.randint(0, 45)
        payload.update(
            DialCallDuration=str(dialled),
            DialWhomNumber=national(src.mobile()),
            CurrentTime=_local_time(start + timedelta(seconds=ivr + dialled + 1)),
        )
    return payload


def _gen_connect_applet_response(src: _Source) -> dict[str, Any]:
    destinations: list[dict[str, str]] = []
    for number in src.mobiles(src.rng.randint(1, 4)):
        destinations.append({"contact_uri": number})
    if src.chance(0.2):
        user = re.sub(r"[^A-Za-z0-9._~-]", "", src.faker.user_name()) or "agent"
        destinations.insert(
            src.rng.randrange(len(destinations) + 1), {"contact_uri": f"sip:{user}"}
        )
    payload: dict[str, Any] = {"destination": destinations}
    optional: dict[str, Callable[[], Any]] = {
        "fetch_after_attempt": lambda: src.chance(0.3),
        "state_management": lambda: src.chance(0.5),
        "outgoing_phone_number": lambda: national(src.landline())[1:],
        "sticky_agent": lambda: src.chance(0.3),
        "recording": lambda: {
            "record": src.chance(0.8),
            "channels": "dual" if src.chance(0.3) else "single",
        },
        "max_ringing_duration": lambda: src.rng.choice((15, 20, 30, 45, 60)),
        "max_conversation_duration": lambda: src.rng.choice((300, 600, 900, 1800, 3600, 14400)),
        "music_on_hold": lambda: (
            {"type": "default_tone"}
            if src.chance(0.7)
            else {"type": "url", "value": src.url("/hold-music.mp3")}
        ),
        "parallel_ringing": lambda: (
            {"activate": True, "max_parallel_attempts": src.rng.randint(1, len(destinations))}
            if len(destinations) > 1 and src.chance(0.6)
            else {"activate": False}
        ),
        "call_event_passthru_url": lambda: src.url("/exotel/call-events"),
        "start_call_playback": lambda: (
            {"type": "text", "value": f"You have a call from a customer of {src.faker.company()}."}
            if src.chance(0.7)
            else {"type": "audio_url", "value": src.url("/greeting.wav")}
        ),
    }
    for name, make in optional.items():
        if src.chance(0.7):
            payload[name] = make()
    return payload


def _gen_voice_message_status(src: _Source) -> dict[str, Any]:
    causes = _hangup_causes()
    sender = src.landline()
    job_type = "TTS" if src.chance(0.6) else "AUDIO"
    accepted = src.moment()
    items = []
    for index, number in enumerate(src.mobiles(src.rng.choice((1, 1, 1, 2, 3)))):
        status = src.weighted(
            {"DELIVRD": 0.55, "UNDELIV": 0.3, "REJECTD": 0.05, "ACCEPTD": 0.05, "UNKNOWN": 0.05},
            f"data.{index}.status",
        )
        ring: int | bool = False
        answer: int | bool = False
        hang: int | bool = False
        duration = 0
        code: int | None = None
        begin = int(accepted.timestamp()) + src.rng.randint(1, 30)
        sent = begin
        if status == "DELIVRD":
            ring = begin
            answer = ring + src.rng.randint(2, 25)
            duration = src.rng.randint(5, 90)
            hang = answer + duration
            sent = hang
            code = 0
        elif status == "UNDELIV":
            ring = begin
            hang = ring + src.rng.randint(0, 45)
            sent = hang
            common: tuple[int, ...] = (4017, 4018, 4019, 4020, 4021, 4001, 4031, 4034, 4041)
            if job_type == "AUDIO" and src.chance(0.1):
                common = (3005,)
            pool = [c for c in common if c in causes] if src.chance(0.9) else []
            code = src.rng.choice(pool or [c for c in causes if c >= 4000] or list(causes))
        elif status == "REJECTD":
            pool = [c for c in (3001, 3002, 3003, 3004) if c in causes]
            code = src.rng.choice(pool) if pool else None
        elif status == "UNKNOWN" and src.chance(0.5):
            ring = begin
        sent += src.rng.randint(0, 3)
        item: dict[str, Any] = {
            "type": "voice",
            "message_id": src.digits(21),
            "status": status,
            "timestamp": sent,
            "micro_timestamp": sent * 1000 + src.rng.randrange(1000),  # milliseconds, as shown
            "to": number,
            "from": sender,
            "client_message_id": str(src.rng.randint(1, 99999)) if src.chance(0.5) else "",
            "job_type": job_type,
            "ring_date": ring,
            "answer_date": answer,
            "hang_date": hang,
            "actual_duration": duration,
            "billed_duration": math.ceil(duration / 60) * 60,
        }
        if code is not None:
            item.update(error_code=code, error_description=causes[code])
        if status == "DELIVRD" and src.chance(0.2):
            item["keypress"] = src.rng.choice("123456789*#") if src.chance(0.8) else src.digits(2)
        items.append(item)
    payload: dict[str, Any] = {"api_job_id": src.uuid(), "data": items}
    if src.chance(0.6):
        payload["client_job_id"] = src.reference()
    return payload


_GENERATORS: dict[str, Callable[[_Source], dict[str, Any]]] = {
    "call_completed": _gen_call_completed,
    "click_to_call_status": _gen_click_to_call_status,
    "connect_applet_request": _gen_connect_applet_request,
    "connect_applet_response": _gen_connect_applet_response,
    "deallocation": _gen_deallocation,
    "verification_failed": _gen_verification_failed,
    "verification_succeeded": _gen_verification_succeeded,
    "voice_message_status": _gen_voice_message_status,
}


# -- overrides and checks ------------------------------------------------------------------------


def _set_path(payload: dict[str, Any], path: str, value: Any) -> None:
    """Sets `a.b.0.c` in place: missing objects on the way are created, list items must exist."""
    parts = path.split(".")
    if not path or any(not part for part in parts):
        raise ValueError(f"override {path!r}: not a field path (use dots between names)")
    node: Any = payload
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[:depth]) or "the payload"
        if isinstance(node, dict):
            if last:
                node[part] = value
            else:
                if part not in node or node[part] is None:
                    node[part] = {}
                node = node[part]
        elif isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ValueError(
                    f"override {path!r}: {where} is a list of {len(node)} items;"
                    f" {part!r} is not an index of it"
                )
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        else:
            raise ValueError(f"override {path!r}: {where} is {node!r}, which has no fields")


def _finish(
    event: str, payload: dict[str, Any], overrides: Mapping[str, Any] | None
) -> dict[str, Any]:
    if overrides:
        payload = copy.deepcopy(payload)
        for path, value in overrides.items():
            _set_path(payload, path, value)
        errors = _errors(event, payload)
        if errors:
            raise ValueError(
                f"the overrides {dict(overrides)!r} make the {event} payload invalid: "
                + "; ".join(errors)
            )
        return payload
    errors = _errors(event, payload)
    if errors:  # pragma: no cover - a generator's bug
        raise RuntimeError(f"generated {event} payload is invalid: {'; '.join(errors)}")
    return payload


# -- the API -------------------------------------------------------------------------------------


def fake(
    event: str, *, seed: int | None = None, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One realistic payload of `event`, valid against its schema.

    `seed` makes it repeatable. `overrides` maps field paths (`"call_details.status"`,
    `"data.0.to"`; list items by index) to values. An outcome field (`dial_call_status` of
    `call_completed`, `call_details.status` of `click_to_call_status`, `data.N.status` of
    `voice_message_status`) is drawn as given, so that the fields that follow from it do (a
    busy call is `incomplete`, with no talk time); every override is then set as given. The
    result must still be valid, else ValueError says why.
    """
    _check_event(event)
    outcomes = {path: value for path, value in (overrides or {}).items()
                if _is_outcome(event, path)}
    return _finish(event, _GENERATORS[event](_Source(seed, outcomes)), overrides)


def _is_outcome(event: str, path: str) -> bool:
    if event == "voice_message_status":
        parts = path.split(".")
        return len(parts) == 3 and parts[0] == "data" and parts[1].isdigit() \
            and parts[2] == "status"
    return path == _OUTCOME_FIELDS.get(event)


# The field of each event whose value decides the others (durations, times, call type).
_OUTCOME_FIELDS = {
    "call_completed": "dial_call_status",
    "click_to_call_status": "call_details.status",
}


def _item_seed(seed: int, index: int) -> int:
    # The first item is `fake(event, seed=seed)`; the others have seeds derived from it.
    if index == 0:
        return seed
    return random.Random(f"exomock-fake:{seed}:{index}").getrandbits(63)


def fake_many(
    event: str,
    count: int,
    *,
    seed: int | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """`count` payloads of `event`: item i is `fake(event, seed=<derived from seed and i>)`."""
    _check_event(event)
    if count < 0:
        raise ValueError(f"count must be 0 or more, not {count}")
    if seed is None:
        return [fake(event, overrides=overrides) for _ in range(count)]
    return [fake(event, seed=_item_seed(seed, i), overrides=overrides) for i in range(count)]


def call_sequence(
    *, seed: int | None = None, answered: bool = True, verified: bool = True
) -> list[tuple[str, dict[str, Any]]]:
    """The callbacks of one call on a GreenPin allocation, in the order they are sent.

    A number the allocation does not know calls one of the a party's VNs and enters a PIN:
    `verification_succeeded` (the caller joins the a party) or `verification_failed`, then
    `call_completed` for that call, then `deallocation` when the allocation ends (its a party
    lists the caller who joined). `answered` says whether the b party took the call; an
    unverified caller is never put through, so it has no effect when `verified` is false. The
    events share the call SID, the allocation's ids, the numbers and the VNs.
    """
    src = _Source(seed)
    allocation = _Allocation.make(src)
    if verified:
        status = (
            "completed"
            if answered
            else src.weighted({s: _CALL_OUTCOMES[s] for s in _NOT_ANSWERED if s != "canceled"})
        )
        call = _joining_call(src, allocation, status, verified=True)
        first = (
            "verification_succeeded",
            _verification_succeeded(allocation, call, allocation.a_pins[0]),
        )
        allocation.a_numbers.append(call.caller)
    else:
        call = _joining_call(src, allocation, "canceled", verified=False)
        first = ("verification_failed", _verification_failed(call, _wrong_pin(src, allocation)))
    events = [
        first,
        ("call_completed", _call_completed(allocation, call)),
        ("deallocation", _deallocation(allocation)),
    ]
    return [(event, _finish(event, payload, None)) for event, payload in events]
