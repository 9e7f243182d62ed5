"""Fake ExoBridge events: one allocation and one call on it, and what they send."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..domain import payloads
from ..domain.allocations import VAULT
from .source import (
    _RECORDINGS,
    _Source,
)


@dataclass
class _Allocation:
    """Named as `domain.allocations.Allocation` is, so that `payloads.deallocation` takes both."""

    ref: str  # transaction_id
    id: str  # greenpin_id
    usage: str
    a_numbers: tuple[str, ...]
    b_numbers: tuple[str, ...]
    a_vns: tuple[str, ...]
    b_vns: tuple[str, ...]
    a_pins: tuple[str, ...]
    b_pins: tuple[str, ...]
    # Only the deallocation callback tells the state: by then it is `vault`, as the mock says.
    state: str = VAULT

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
        a_pins = (src.pin(pin_length),)
        b_pins = (src.pin(pin_length),) if src.chance(0.3) else ()
        return cls(
            ref=src.reference(),
            id=src.uuid(),
            usage="twoway" if src.chance(0.8) else "oneway",
            a_numbers=tuple(a_numbers),
            b_numbers=tuple(b_numbers),
            a_vns=tuple(a_vns),
            b_vns=tuple(b_vns),
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
        transaction_id=allocation.ref,
        greenpin_id=allocation.id,
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


def _verification_succeeded(allocation: _Allocation, call: _Call, pin: str) -> dict[str, Any]:
    return payloads.verification_succeeded(
        transaction_id=allocation.ref, greenpin_id=allocation.id,
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
    return payloads.deallocation(_Allocation.make(src))


def _gen_verification_succeeded(src: _Source) -> dict[str, Any]:
    allocation = _Allocation.make(src)
    call = _joining_call(src, allocation, "completed", verified=True)
    return _verification_succeeded(allocation, call, allocation.a_pins[0])


def _gen_verification_failed(src: _Source) -> dict[str, Any]:
    allocation = _Allocation.make(src)
    call = _joining_call(src, allocation, "canceled", verified=False)
    return _verification_failed(call, _wrong_pin(src, allocation))
