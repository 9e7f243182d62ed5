"""The callback payloads of the ExoBridge events, one builder each: the mock's domain sends
what they build, and the fakes (`mock_server.fakes`) fill them with made-up values, so that the
two cannot drift apart. Times are epoch seconds; each event formats them as the documents'
example of it does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..clock import format_iso, format_iso_utc


def deallocation(
    *,
    transaction_id: str,
    greenpin_id: str,
    usage: str,
    a_numbers: Sequence[str],
    b_numbers: Sequence[str],
    a_vns: Sequence[str],
    b_vns: Sequence[str],
    a_pins: Sequence[str],
    b_pins: Sequence[str],
    state: str,
) -> dict[str, Any]:
    return {
        "transaction_id": transaction_id,
        "greenpin_id": greenpin_id,
        "usage": usage,
        "aparty_numbers": list(a_numbers),
        "bparty_numbers": list(b_numbers),
        "aparty_vns": list(a_vns),
        "bparty_vns": list(b_vns),
        "aparty_pins": list(a_pins),
        "bparty_pins": list(b_pins),
        "state": state,
    }


def call_completed(
    *,
    transaction_id: str,
    greenpin_id: str,
    call_sid: str,
    vn: str,
    caller: str,
    connected_to: str | None,
    call_type: str,
    start: float,
    current: float,
    dial_call_duration: int,
    on_call_duration: int,
    dial_call_status: str,
    recording_url: str | None,
) -> dict[str, Any]:
    """`connected_to`: the party the caller talked to, None when nobody was (then `to` is the
    VN); `current`: when the callback is sent."""
    return {
        "transaction_id": transaction_id,
        "call_sid": call_sid,
        "vn": vn,
        "greenpin_id": greenpin_id,
        "from": caller,
        "to": connected_to or vn,
        "call_type": call_type,
        # In UTC, as the documents' example of this callback (the other events are in IST).
        "start_time": format_iso_utc(start),
        "current_time": format_iso_utc(current),
        "dial_call_duration": dial_call_duration,
        "on_call_duration": on_call_duration,
        "direction": "incoming",
        "recording_url": recording_url,
        "dial_call_status": dial_call_status,
        "source": "exotel",
    }


def verification_succeeded(
    *, transaction_id: str, greenpin_id: str, call_sid: str, vn: str, caller: str, pin: str
) -> dict[str, Any]:
    return {
        "transaction_id": transaction_id,
        "vn": vn,
        "greenpin_id": greenpin_id,
        "caller": caller,
        "pin": pin,
        "call_sid": call_sid,
    }


def verification_failed(
    *, call_sid: str, vn: str, caller: str, pin: str, start: float
) -> dict[str, Any]:
    return {
        "call_sid": call_sid,
        "vn": vn,
        "start_time": format_iso(start),
        "caller": caller,
        "pin": pin,
    }
