"""The callback payloads, one builder each: the mock's domain sends what they build, and the
fakes (`mock_server.fakes`) fill them with made-up values, so that the two cannot drift apart.
Numbers are E.164 (each payload writes them as the documents' example of it does), times epoch
seconds (likewise formatted by each event)."""

from __future__ import annotations

from typing import Any, Protocol

from ..clock import format_created, format_iso, format_iso_utc, format_local
from .call_model import answer_number


class Deallocated(Protocol):
    """What the deallocation callback tells of an allocation (`allocations.Allocation`)."""

    ref: str
    id: str
    usage: str
    state: str
    a_numbers: tuple[str, ...]
    b_numbers: tuple[str, ...]
    a_vns: tuple[str, ...]
    b_vns: tuple[str, ...]
    a_pins: tuple[str, ...]
    b_pins: tuple[str, ...]


def deallocation(allocation: Deallocated) -> dict[str, Any]:
    return {
        "transaction_id": allocation.ref,
        "greenpin_id": allocation.id,
        "usage": allocation.usage,
        "aparty_numbers": list(allocation.a_numbers),
        "bparty_numbers": list(allocation.b_numbers),
        "aparty_vns": list(allocation.a_vns),
        "bparty_vns": list(allocation.b_vns),
        "aparty_pins": list(allocation.a_pins),
        "bparty_pins": list(allocation.b_pins),
        "state": allocation.state,
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


def call_details(
    *,
    sid: str,
    account: str,
    direction: str,
    virtual_number: str,
    state: str,
    status: str | None,
    created: float,
    updated: float,
    start: float,
    end: float | None,
    total_duration: int | None,
    total_talk_time: int | None,
    custom_field: str | None,
    recording_url: str | None,
    channels: str,
) -> dict[str, Any]:
    """`call_details` of the v3 call answers and of the click-to-call status callback."""
    return {
        "sid": sid,
        "direction": direction,
        "virtual_number": answer_number(virtual_number),
        "state": state,
        "status": status,
        "legs": f"/v3/accounts/{account}/calls/{sid}/legs",
        "created_time": format_iso(created),
        "updated_time": format_iso(updated),
        "start_time": format_iso(start),
        "end_time": None if end is None else format_iso(end),
        "total_duration": total_duration,
        "total_talk_time": total_talk_time,
        "custom_field": custom_field,
        "app_id": None,
        "app_name": None,
        "digits": None,
        "recordings": (
            None if recording_url is None else [{"url": recording_url, "channels": channels}]
        ),
    }


def click_to_call_status(event_type: str, details: dict[str, Any]) -> dict[str, Any]:
    """`details`: what `call_details` builds."""
    return {"event_details": {"event_type": event_type}, "call_details": details}


def connect_applet_request(
    *,
    call_sid: str,
    caller: str,
    vn: str,
    start: float,
    current: float,
    dial_call_duration: int,
    dialled: str | None,
) -> dict[str, str]:
    """The query of the Connect applet's GET. `dialled`: the number of the attempt just made,
    when the URL is asked again after it (`fetch_after_attempt`), None on the first request."""
    return {
        "CallSid": call_sid,
        "From": answer_number(caller),
        "To": answer_number(vn),
        "Direction": "incoming",
        "DialCallDuration": str(dial_call_duration),
        "StartTime": format_local(start),
        "CurrentTime": format_local(current),
        "Created": format_created(start),
        "DialWhomNumber": answer_number(dialled) if dialled else "",
    }
