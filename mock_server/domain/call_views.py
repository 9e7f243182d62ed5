"""The documented views of a call: v3 `call_details` and legs, the v1 record, and the status
callback's payload (which is the v3 view); `payloads` builds what the fakes share."""

from __future__ import annotations

from typing import Any

from ..clock import format_iso, format_local
from . import payloads
from .call_model import (
    INBOUND,
    OUTBOUND,
    V1_INBOUND,
    CallRecord,
    CallState,
    Leg,
    answer_number,
)


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else format_iso(epoch)


def _local(epoch: float | None) -> str | None:
    return None if epoch is None else format_local(epoch)


def call_details(call: CallRecord) -> dict[str, Any]:
    """`call_details` of the v3 answers and of the status callbacks."""
    return payloads.call_details(
        sid=call.sid,
        account=call.tenant_id,
        direction=INBOUND if call.direction == V1_INBOUND else OUTBOUND,
        virtual_number=call.virtual_number,
        state=call.state,
        status=call.status,
        created=call.created_at,
        updated=call.updated_at,
        start=call.created_at,
        end=call.ended_at,
        total_duration=call.total_duration,
        total_talk_time=call.total_talk_time,
        custom_field=call.custom_field,
        recording_url=call.recording_url,
        channels=call.channels,
    )


def leg_details(leg: Leg) -> dict[str, Any]:
    ended = leg.ended_at
    return {
        "leg_sid": leg.sid,
        "leg_number": leg.leg_number,
        "contact_uri": answer_number(leg.contact),
        "direction": leg.direction,
        "state": CallState.ACTIVE if leg.active else CallState.TERMINAL,
        "status": leg.status,
        "created_time": format_iso(leg.created_at),
        "start_time": format_iso(leg.created_at),
        "answer_time": _iso(leg.answered_at),
        "end_time": _iso(ended),
        "on_call_duration": (
            None if ended is None
            else 0 if leg.answered_at is None
            else int(ended - leg.answered_at)
        ),
        "total_duration": None if ended is None else int(ended - leg.created_at),
    }


def status_payload(call: CallRecord, event: str) -> dict[str, Any]:
    return payloads.click_to_call_status(event, call_details(call))


def v1_call(call: CallRecord) -> dict[str, Any]:
    """The classic v1 `Call`."""
    price = call.price
    return {
        "Sid": call.sid,
        "ParentCallSid": None,
        "DateCreated": format_local(call.created_at),
        "DateUpdated": format_local(call.updated_at),
        "AccountSid": call.tenant_id,
        "To": answer_number(call.to_number),
        "From": answer_number(call.from_number),
        "PhoneNumberSid": answer_number(call.virtual_number),
        "Status": call.v1_status,
        "StartTime": format_local(call.created_at),
        "EndTime": _local(call.ended_at),
        "Duration": call.total_duration,
        "Price": None if price is None else f"{price:.3f}",
        "Direction": call.direction,
        "AnsweredBy": None,
        "RecordingUrl": call.recording_url,
    }
