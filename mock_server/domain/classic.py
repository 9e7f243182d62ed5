"""The classic v1 Calls API beyond click-to-call: calls to a tenant's flow, and `Details`.

A classic `connect` with `Url` (`http://my.exotel.in/exoml/start/<flow_id>`, or the newer
`http://my.exotel.com/<sid>/exoml/start_voice/<flow_id>`) instead of `To` connects `From` to one
of the tenant's call flows (`flows` in the configuration). The mock has no flow definitions, so
it plays every flow the same way:

    t0           leg 1 dials `From`                               `in-progress`
    t0 + 3 s     `From` answers; the flow runs (talks to `From`)
    t0 + 13 s    the flow hangs up; leg and call `completed`

The flow runs TALK_SECONDS (10), or `TimeLimit` when that is shorter; `From`'s last four digits
behave as a click-to-call party's (`0000` no answer until `TimeOut`, `0001` busy, `0002` fails,
`0003` keeps the flow until `TimeLimit`). The call has one leg; its `To` and `PhoneNumberSid` are
the `CallerId` (the flow runs on that number), and it is `outbound-api` like any connect.

`Details` (`?details=true`) is the provider's leg summary of a v1 call: each leg's status as v1
names it (`in-progress` while it rings or talks) and how long it was on the call.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from ..errors import CallNotFound
from ..numbers import InvalidNumber, to_e164
from ..settings import Tenant
from .call_model import (
    DEFAULT_ATTEMPT_TIME_OUT,
    DEFAULT_MAX_TIME_LIMIT,
    OUTCOMES,
    REFUSE_SECONDS,
    RING_SECONDS,
    TALK_SECONDS,
    V1_DIRECTION,
    V1_STATUSES,
    Behaviour,
    CallRecord,
    Leg,
    Script,
    behaviour,
    invalid_body,
)

if TYPE_CHECKING:
    from .backend import Backend

# Both forms of a flow's URL that the provider's classic clients send.
FLOW_URL = re.compile(
    r"https?://my\.exotel\.(?:in|com)/(?:exoml/start/|[A-Za-z0-9_-]{1,64}/exoml/start_voice/)"
    r"(?P<flow_id>[0-9]{1,12})/?"
)


def flow_id_of(url: str) -> str:
    """The flow a classic `Url` names; 400 for a URL that is not a flow's."""
    match = FLOW_URL.fullmatch(url)
    if match is None:
        raise invalid_body(
            f"Url {url} is not a call flow's URL (http://my.exotel.in/exoml/start/<flow_id>)"
        )
    return match["flow_id"]


def _number(value: str, field_name: str) -> str:
    try:
        return to_e164(value)
    except InvalidNumber as exc:
        raise invalid_body(f"{field_name} is invalid: {exc}") from None


def _flow_script(leg: Leg, start: float, time_limit: int, time_out: int) -> Script:
    """How a flow call goes, decided at once from the `From` number's behaviour."""
    party = behaviour(leg.contact)
    outcome = OUTCOMES.get(party)
    if outcome is not None:
        end = start + (time_out if party == Behaviour.NEVER_ANSWERS else REFUSE_SECONDS)
        leg.ended_at, leg.status = end, outcome
        return Script(legs=[leg], ends_at=end, status=outcome)
    leg.answered_at = start + RING_SECONDS
    talk = time_limit if party == Behaviour.NEVER_HANGS_UP else min(TALK_SECONDS, time_limit)
    return Script(legs=[leg], ends_at=leg.answered_at + talk, status="completed", connected=0)


def place_flow_call(
    backend: Backend,
    tenant: Tenant,
    *,
    from_contact: str,
    caller_id: str,
    flow_url: str,
    time_limit: int = DEFAULT_MAX_TIME_LIMIT,
    time_out: int = DEFAULT_ATTEMPT_TIME_OUT,
    custom_field: str | None = None,
) -> CallRecord:
    """Connects `From` to the tenant's flow; InvalidCallRequest or CallNotFound when refused."""
    flow_id = flow_id_of(flow_url)
    from_number = _number(from_contact, "From")
    vn = _number(caller_id, "CallerId")
    if tenant.pool_number(vn) is None:
        raise CallNotFound(f"CallerId {caller_id} is not a number of account {tenant.tenant_id}")
    if flow_id not in tenant.flows:
        raise CallNotFound(f"flow {flow_id} is not a call flow of account {tenant.tenant_id}")
    calls = backend.calls
    start = float(math.floor(backend.now()))
    leg = Leg(sid=backend.ids.hex(32), leg_number=1, contact=from_number, created_at=start)
    return calls.record_incoming(
        sid=calls.new_sid(),
        tenant_id=tenant.tenant_id,
        caller=from_number,
        vn=vn,
        start=start,
        script=_flow_script(leg, start, time_limit, time_out),
        max_time_limit=time_limit,
        attempt_time_out=time_out,
        direction=V1_DIRECTION,
        custom_field=custom_field,
    )


def _leg_status(leg: Leg | None) -> str | None:
    if leg is None:
        return None
    return "in-progress" if leg.status is None else V1_STATUSES[leg.status]


def _on_call_seconds(leg: Leg) -> int:
    if leg.answered_at is None:
        return 0
    end = leg.ended_at
    return 0 if end is None else int(end - leg.answered_at)


def v1_details(call: CallRecord) -> dict[str, Any]:
    """The classic `Details` block: the first two legs' statuses, the talk time, every leg's
    seconds on the call (0 until it ends)."""
    legs = call.legs
    return {
        "ConversationDuration": call.total_talk_time or 0,
        "Leg1Status": _leg_status(legs[0] if legs else None),
        "Leg2Status": _leg_status(legs[1] if len(legs) > 1 else None),
        "Legs": [
            {"Leg": {"Id": leg.leg_number, "OnCallDuration": _on_call_seconds(leg)}}
            for leg in legs
        ],
    }
