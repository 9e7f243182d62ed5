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
import random
from collections.abc import Callable, Mapping
from typing import Any

from ..domain import payloads
from .calls import _gen_click_to_call_status
from .connect import _gen_connect_applet_request, _gen_connect_applet_response
from .exobridge import (
    _CALL_OUTCOMES,
    _NOT_ANSWERED,
    _Allocation,
    _call_completed,
    _gen_call_completed,
    _gen_deallocation,
    _gen_verification_failed,
    _gen_verification_succeeded,
    _joining_call,
    _verification_failed,
    _verification_succeeded,
    _wrong_pin,
)
from .source import EVENTS, POSTED_EVENTS, _check_event, _errors, _Source
from .voice_message import _gen_voice_message_status

__all__ = ["EVENTS", "POSTED_EVENTS", "call_sequence", "fake", "fake_many"]

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
        allocation.a_numbers += (call.caller,)
    else:
        call = _joining_call(src, allocation, "canceled", verified=False)
        first = ("verification_failed", _verification_failed(call, _wrong_pin(src, allocation)))
    events = [
        first,
        ("call_completed", _call_completed(allocation, call)),
        ("deallocation", payloads.deallocation(allocation)),
    ]
    return [(event, _finish(event, payload, None)) for event, payload in events]
