"""Calls to a VN, simulated: who is connected to whom, and the callbacks a real call causes.

The routing rules:

- a caller registered in a party of an active allocation on the VN is connected to the other
  party's first number; with usage `oneway`, only a-party callers may reach the b-party;
- an unregistered caller must enter a PIN: a party's PIN makes the caller a member of that party
  (verification succeeded; later calls need no PIN) and connects them; a wrong or missing PIN
  fails verification and the call ends;
- a call on a VN where nothing matches is refused, and the answer says why.

A call that reached an allocation ends with the call-completed callback of that allocation; a
call that reached none causes only the failed-verification callback (when a PIN was asked for),
since the call-completed callback names an allocation. The call takes no time on the mock's
clock: its start is now, its end lies `ring + talk` seconds later. Every call is also kept as an
`inbound` call of the voice APIs (v1 Calls list and details), active on the clock until its end.

A VN may carry a programmable Connect applet URL (`connect_url` of a pool number, or
`PUT /_mock/tenants/{id}/vns/{vn}/connect-url`). ExoBridge comes first: a caller registered on
the VN by an active allocation, or a caller entering `digits` on a VN with active allocations, is
routed by ExoBridge as above; any other caller of such a VN goes to the Connect applet
(`domain/connect.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ..errors import Code, ExoBridgeError
from ..numbers import InvalidNumber, to_e164
from ..settings import Tenant
from . import payloads
from .allocations import ONEWAY, Allocation, Party, RouteTaken
from .call_model import INBOUND, CallStatus, Leg, Script

if TYPE_CHECKING:
    from .backend import Backend

# The party an incoming call is routed to rings this long before it answers (a click-to-call's
# parties ring `call_model.RING_SECONDS`).
DIALLED_RING_SECONDS = 5
NO_ANSWER_SECONDS = 30
DEFAULT_TALK_SECONDS = 10
RECORDINGS_BASE = "https://recordings.exomock.invalid/exobridge"

class Outcome(StrEnum):
    """How an incoming call ended for its caller (the control plane's `outcome`)."""

    CONNECTED = "connected"
    NOT_ANSWERED = "not_answered"
    BUSY = "busy"
    REFUSED_ONEWAY = "refused_oneway"
    VERIFICATION_FAILED = "verification_failed"
    NO_ALLOCATION = "no_allocation"
    NO_DESTINATION = "no_destination"
    CONNECT_FAILED = "connect_failed"


@dataclass(frozen=True)
class IncomingCall:
    vn: str
    caller: str
    digits: str | None = None
    answered: bool = True
    busy: bool = False
    talk_seconds: int = DEFAULT_TALK_SECONDS


@dataclass
class IncomingCallResult:
    call_sid: str
    outcome: str
    reason: str
    vn: str
    caller: str
    allocation_id: str | None = None
    transaction_id: str | None = None
    party: str | None = None
    dialled: str | None = None
    verified: bool | None = None
    dial_call_status: str | None = None
    dial_call_duration: int = 0
    on_call_duration: int = 0
    events: list[str] = field(default_factory=list)
    flow: str = "exobridge"
    connected_to: str | None = None
    duration: int = 0
    destinations: list[dict[str, Any]] | None = None
    connect_url: str | None = None
    connect_requests: int = 0
    connect_errors: list[str] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "call_sid": self.call_sid,
            "outcome": self.outcome,
            "reason": self.reason,
            "vn": self.vn,
            "from": self.caller,
            "allocation_id": self.allocation_id,
            "transaction_id": self.transaction_id,
            "party": self.party,
            "dialled": self.dialled,
            "verified": self.verified,
            "dial_call_status": self.dial_call_status,
            "dial_call_duration": self.dial_call_duration,
            "on_call_duration": self.on_call_duration,
            "callbacks": self.events,
            "flow": self.flow,
            "connected_to": self.connected_to,
            "duration": self.duration,
            "destinations": self.destinations,
            "connect_url": self.connect_url,
            "connect_requests": self.connect_requests,
            "connect_errors": self.connect_errors,
        }


class IncomingCalls:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def connect_url(self, tenant: Tenant, call: IncomingCall) -> str | None:
        """The Connect applet URL that takes this call, or None when ExoBridge routes it.

        Raises the ExoBridgeError of an invalid number (16) or a VN not the tenant's (20).
        """
        vn, caller = self._numbers(tenant, call)
        url = self.backend.connect_url(vn)
        if url is None:
            return None
        if self._holder(vn, caller) is not None:
            return None
        if call.digits and self.backend.store.has_routes(vn):
            return None
        return url

    def _holder(self, vn: str, caller: str) -> Allocation | None:
        """The allocation that takes a call from this number on the VN: the one registering it,
        else a oneway one whose B party holds it (and refuses the call)."""
        store = self.backend.store
        return store.route(vn, caller) or store.oneway_destination(vn, caller)

    def receive(self, tenant: Tenant, call: IncomingCall) -> IncomingCallResult:
        """Routes the call and keeps it, with the callbacks it causes, as one unit."""
        vn, caller = self._numbers(tenant, call)
        with self.backend.unit():
            return self._receive(tenant, call, vn, caller)

    def _receive(
        self, tenant: Tenant, call: IncomingCall, vn: str, caller: str
    ) -> IncomingCallResult:
        start = self.backend.now()
        result = IncomingCallResult(
            call_sid=self.backend.calls.new_sid(), outcome="", reason="", vn=vn, caller=caller
        )
        reached = self._holder(vn, caller)
        party = reached.party_reached(vn, caller) if reached is not None else None
        if party is None:
            party = self._verify(tenant, call, result, start)
            if party is None:
                self._record(tenant, result, start)
                return result
        allocation = party.allocation
        result.allocation_id = allocation.id
        result.transaction_id = allocation.ref
        result.party = party.name
        other = party.other
        if allocation.usage == ONEWAY and party.name == "b":
            self._end(
                result, Outcome.REFUSED_ONEWAY, "oneway allocation: b-party callers cannot call"
            )
        elif not other.numbers:
            self._end(
                result, Outcome.NO_DESTINATION, f"the {other.name}-party has no number to dial"
            )
        else:
            self._dial(call, result, other.numbers[0])
        self._completed(tenant, allocation, result, start, call)
        self._record(tenant, result, start)
        return result

    # -- steps ----------------------------------------------------------------------------------

    def _verify(
        self, tenant: Tenant, call: IncomingCall, result: IncomingCallResult, start: float
    ) -> Party | None:
        """The party whose PIN the caller entered, the caller now one of its numbers."""
        vn, caller, digits = result.vn, result.caller, call.digits or ""
        entered = digits.isascii() and digits.isdigit()
        reached = self.backend.store.route(vn, digits) if entered else None
        party = reached.party_reached(vn, digits) if reached is not None else None
        if party is None:
            has_allocations = self.backend.store.has_routes(vn)
            result.verified = False
            self._end(
                result,
                Outcome.VERIFICATION_FAILED if has_allocations else Outcome.NO_ALLOCATION,
                ("no PIN entered" if not digits else f"PIN {digits} matches no allocation")
                if has_allocations
                else f"no active allocation on {vn}",
            )
            if has_allocations:
                payload = payloads.verification_failed(
                    call_sid=result.call_sid, vn=vn, caller=caller, pin=digits, start=start
                )
                self._emit(tenant, "verification_failed", payload, result)
            return None
        result.verified = True
        joined = self._join(party, caller)
        payload = payloads.verification_succeeded(
            transaction_id=joined.allocation.ref, greenpin_id=joined.allocation.id,
            call_sid=result.call_sid, vn=vn, caller=caller, pin=digits,
        )
        self._emit(tenant, "verification_succeeded", payload, result)
        return joined

    def _join(self, party: Party, caller: str) -> Party:
        """Adds the caller to the party, unless that would put one number in both parties or
        register it on a VN where another active allocation has it: then the caller is
        connected this once without becoming a member."""
        if caller in party.other.numbers:
            return party
        updated = party.allocation.copy()
        member = updated.a if party.name == "a" else updated.b
        member.numbers = (*member.numbers, caller)
        try:
            self.backend.store.check({(updated.tenant_id, updated.id): updated})
        except RouteTaken:
            return party
        self.backend.put(updated)
        return member

    def _dial(self, call: IncomingCall, result: IncomingCallResult, number: str) -> None:
        result.dialled = number
        if call.busy:
            result.dial_call_status = "busy"
            result.dial_call_duration = 1
            self._end(result, Outcome.BUSY, f"{number} is busy")
        elif not call.answered:
            result.dial_call_status = "no-answer"
            result.dial_call_duration = NO_ANSWER_SECONDS
            self._end(result, Outcome.NOT_ANSWERED, f"{number} did not answer")
        else:
            result.dial_call_status = "completed"
            result.on_call_duration = call.talk_seconds
            result.dial_call_duration = DIALLED_RING_SECONDS + call.talk_seconds
            self._end(result, Outcome.CONNECTED, f"connected to {number}")

    def _record(self, tenant: Tenant, result: IncomingCallResult, start: float) -> None:
        """Keeps the call as an inbound call of the voice APIs: the caller's leg, and the leg of
        the party dialled (if any); refused before anyone was dialled, it is `failed` at once."""
        ids = self.backend.ids
        begin = float(math.floor(start))
        caller_leg = Leg(sid=ids.hex(32), leg_number=1, contact=result.caller, created_at=begin,
                         direction=INBOUND)
        legs = [caller_leg]
        connected = None
        end = begin
        status: str = CallStatus.FAILED
        if result.dialled is not None:
            caller_leg.answered_at = begin
            leg = Leg(sid=ids.hex(32), leg_number=2, contact=result.dialled, created_at=begin)
            legs.append(leg)
            end = begin + result.dial_call_duration
            if result.outcome == Outcome.CONNECTED:
                leg.answered_at = begin + DIALLED_RING_SECONDS
                connected, status = 1, CallStatus.COMPLETED
                result.connected_to = result.dialled
            else:
                status = result.dial_call_status or CallStatus.FAILED
                leg.ended_at, leg.status = end, status
        result.duration = int(end - begin)
        self.backend.calls.record_incoming(
            sid=result.call_sid,
            tenant_id=tenant.tenant_id,
            caller=result.caller,
            vn=result.vn,
            start=begin,
            script=Script(legs=legs, ends_at=end, status=status, connected=connected),
        )

    @staticmethod
    def _end(result: IncomingCallResult, outcome: str, reason: str) -> None:
        result.outcome = outcome
        result.reason = reason

    def _completed(
        self,
        tenant: Tenant,
        allocation: Allocation,
        result: IncomingCallResult,
        start: float,
        call: IncomingCall,
    ) -> None:
        talked = result.outcome == Outcome.CONNECTED
        call_type = "completed" if talked else "incomplete"
        payload = payloads.call_completed(
            transaction_id=allocation.ref,
            greenpin_id=allocation.id,
            call_sid=result.call_sid,
            vn=result.vn,
            caller=result.caller,
            connected_to=result.dialled if talked else None,
            call_type=call_type,
            start=start,
            current=start + result.dial_call_duration,
            dial_call_duration=result.dial_call_duration,
            on_call_duration=result.on_call_duration,
            dial_call_status=result.dial_call_status or "canceled",
            recording_url=f"{RECORDINGS_BASE}/{result.call_sid}.mp3" if talked else None,
        )
        self._emit(tenant, "call_completed", payload, result)

    def _emit(
        self, tenant: Tenant, event: str, payload: dict[str, Any], result: IncomingCallResult
    ) -> None:
        self.backend.emit(tenant.tenant_id, event, payload, sequence=result.call_sid)
        result.events.append(event)

    def _numbers(self, tenant: Tenant, call: IncomingCall) -> tuple[str, str]:
        vn = self._number(call.vn, "vn")
        caller = self._number(call.caller, "from")
        if tenant.pool_number(vn) is None:
            raise ExoBridgeError(
                Code.NUMBER_NOT_IN_GROUP,
                f"{vn} is not a virtual number of tenant {tenant.tenant_id}"
            )
        return vn, caller

    @staticmethod
    def _number(value: str, where: str) -> str:
        try:
            return to_e164(value)
        except InvalidNumber as exc:
            raise ExoBridgeError(Code.INVALID_NUMBER, f"{where}: {exc}") from None
