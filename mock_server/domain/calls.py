"""Click-to-call (v3) and call details (v3 and v1) as plain Python: calls, legs, their lifecycle.

A call is placed at once and then lives on the mock's clock: nothing happens between requests
unless the clock moves (`POST /_mock/clock/advance`, or real time with the default clock). Each
step happens at its own scheduled time, however far the clock jumps, so the times and durations
of a call never depend on when it was looked at.

The lifecycle of a call whose parties behave normally (the defaults below):

    t0           the request is accepted; leg 1 dials `from`     call `active`
    t0 + 3 s     `from` answers; leg 2 dials `to`
    t0 + 6 s     `to` answers; the parties talk                  event `answered`
    t0 + 16 s    both hang up; legs and call `completed`         call `terminal`, event `terminal`

A phone rings RING_SECONDS (3) before it is answered; the conversation lasts TALK_SECONDS (10),
or `max_time_limit` when that is shorter.

Magic numbers: the last four digits of `from.contact_uri` or `to.contact_uri` say how that
party behaves.

    ...0000   never answers: rings for `attempt_time_out` seconds (45 unless given), `no-answer`
    ...0001   busy: refuses the call 1 s after it is dialled, `busy`
    ...0002   unreachable: the attempt fails 1 s after it is dialled, `failed`
    ...0003   answers after 3 s and never hangs up: `max_time_limit` (14400 unless given) cuts
              the conversation, which ends `completed`
    other     answers after 3 s; the conversation lasts 10 s

When `from` does not answer, `to` is never dialled and the call ends with `from`'s outcome.
When `to` does not answer, leg 1 ends `completed` (it was answered) and the call ends with
`to`'s outcome. `POST /_mock/calls/{call_sid}/hangup` ends an active call at once: `completed`
once the parties talk, `canceled` before `to` has answered (legs not yet answered end
`canceled`, answered ones `completed`).

State management: a call placed with `from.state_management` true makes its `from` number
(normalised to E.164) busy for its account until the call is terminal; another such request for
that number meanwhile is placed and over at once, `busy`, without ringing the user. Requests
without state management are not checked.

Status callbacks: `answered` and `terminal` are sent (event `click_to_call_status`) only to the
URLs the request subscribed; the payload is the call as `getCall` gives it at that moment.

The v1 view of a call: `Status` is `in-progress` while the call is active, then the v3 status
(`canceled`, which v1 does not know, is `no-answer`); `Price` is 0.500 per started minute of
`Duration` once the call is over, when any party answered, and 0.000 otherwise. A recorded call
(`recording.record`) that was talked on has one recording at RECORDING_URL (not served).

Incoming calls (`POST /_mock/calls/incoming`, routed by ExoBridge or by a Connect applet) are
calls too, with direction `inbound`: `from` is the caller, `to` and the virtual number the VN
dialled. Their whole course is decided when they come in (a `Script`: every leg with its times,
the end and the status) and is played out on the clock like a click-to-call's: a leg appears when
it is dialled, is answered and ends at its scheduled time, and the call is `active` until its end.
Leg 1 is the caller's (`inbound`); the others are the destinations dialled, in order. With state
management, the destination connected is busy from its answer until the call's end.
"""

from __future__ import annotations

import heapq
import math
from itertools import count
from typing import TYPE_CHECKING

from ..errors import BadCallQuery, CallNotFound
from ..numbers import InvalidNumber, to_e164
from ..settings import Tenant

if TYPE_CHECKING:
    from .backend import Backend
    from .ports import CallStore
from .call_filters import V1Filter, V1Page
from .call_model import (
    ANSWERED_EVENT,
    DEFAULT_ATTEMPT_TIME_OUT,
    DEFAULT_MAX_TIME_LIMIT,
    OUTCOMES,
    REFUSE_SECONDS,
    RING_SECONDS,
    STATUS_CALLBACK,
    TALK_SECONDS,
    TERMINAL_EVENT,
    V1_INBOUND,
    Behaviour,
    CallRecord,
    CallRequest,
    CallStatus,
    Leg,
    Phase,
    Script,
    behaviour,
    invalid_body,
)
from .call_views import status_payload


class Calls:
    def __init__(self, backend: Backend, store: CallStore) -> None:
        self.backend = backend
        self.store = store
        # Calls are listed in the order they were made, across restarts too.
        self._sequence = count(store.last_seq() + 1)

    # -- requests of the API -----------------------------------------------------------------------

    def create(self, tenant: Tenant, request: CallRequest) -> CallRecord:
        """Places the call; InvalidCallRequest or CallNotFound when the domain's rules refuse it.
        A state-managed `from` user who is busy on another call is not dialled: the call is
        placed and over at once, `busy`."""
        from_number = self._number(request.from_contact, "from.contact_uri")
        to_number = self._number(request.to_contact, "to.contact_uri")
        vn = self._number(request.virtual_number, "virtual_number")
        if from_number == to_number:
            raise invalid_body(
                f"to.contact_uri {request.to_contact} is the same number as from.contact_uri"
            )
        if tenant.pool_number(vn) is None:
            raise CallNotFound(
                f"virtual_number {request.virtual_number} is not a number of account "
                f"{tenant.tenant_id}",
            )
        with self.backend.unit():
            # Read inside the unit: on a shared store it is the lock that makes two requests of
            # one user see each other.
            busy = request.state_management and self.store.busy_call(
                tenant.tenant_id, from_number
            ) is not None
            return self._place(tenant, request, from_number, to_number, vn, from_busy=busy)

    def _place(self, tenant: Tenant, request: CallRequest, from_number: str, to_number: str,
               vn: str, *, from_busy: bool) -> CallRecord:
        now = float(math.floor(self.backend.now()))
        call = CallRecord(
            sid=self.new_sid(),
            tenant_id=tenant.tenant_id,
            seq=next(self._sequence),
            from_number=from_number,
            to_number=to_number,
            virtual_number=vn,
            state_management=request.state_management,
            record=request.record,
            channels=request.channels,
            max_time_limit=request.max_time_limit,
            attempt_time_out=request.attempt_time_out,
            custom_field=request.custom_field,
            status_callbacks=dict(request.status_callbacks),
            created_at=now,
            updated_at=now,
        )
        call.legs.append(self._dial(call, 1, from_number, now))
        if from_busy:
            # State management keeps calls away from a busy user: the leg is never rung.
            self._end(call, now, CallStatus.BUSY)
        self.backend.put_call(call)
        return call

    def new_sid(self) -> str:
        """A call SID that no kept call has."""
        while True:
            sid = self.backend.ids.call_sid()
            if self.store.get(sid) is None:
                return sid

    def get(self, tenant: Tenant, sid: str) -> CallRecord:
        """The account's call; CallNotFound when there is none."""
        call = self.store.get(sid)
        if call is None or call.tenant_id != tenant.tenant_id:
            raise CallNotFound(f"Call {sid} not found in account {tenant.tenant_id}")
        return call

    def list_v1(
        self,
        tenant: Tenant,
        where: V1Filter,
        *,
        page_size: int = 50,
        ascending: bool = False,
        before: str | None = None,
        after: str | None = None,
    ) -> V1Page:
        """One page of the account's matching calls, newest first unless `ascending`."""
        if before is not None and after is not None:
            raise BadCallQuery("give After or Before, not both")

        def key(call: CallRecord) -> tuple[float, int]:
            return (call.created_at, call.seq)

        matching = sorted(
            (c for c in self.store.calls(tenant.tenant_id) if where.matches(c)),
            key=key,
            reverse=not ascending,
        )
        start, end = 0, page_size
        for name, cursor in (("After", after), ("Before", before)):
            if cursor is None:
                continue
            anchor = self.store.get(cursor)
            if anchor is None or anchor.tenant_id != tenant.tenant_id:
                raise BadCallQuery(f"{name}: no call {cursor!r}")
            mark = key(anchor)
            # How many of the list come before the anchor (it is not in it when it does not match).
            ahead = sum(1 for c in matching if (key(c) < mark if ascending else key(c) > mark))
            if name == "After":
                start = ahead + any(c.sid == anchor.sid for c in matching)
                end = start + page_size
            else:
                start, end = max(0, ahead - page_size), ahead
        page = matching[start:end]
        return V1Page(
            total=len(matching),
            calls=page,
            before=page[0].sid if page and start > 0 else None,
            after=page[-1].sid if page and start + len(page) < len(matching) else None,
        )

    # -- the mock's own controls -------------------------------------------------------------------

    def find(self, sid: str) -> CallRecord | None:
        """The call with this SID in any account."""
        return self.store.get(sid)

    def hang_up(self, call: CallRecord) -> CallRecord:
        """Ends an active call now: `completed` once talked on, `canceled` before that."""
        if not call.active:
            raise ValueError(f"call {call.sid} is over already")
        with self.backend.unit():
            ended = call.copy()
            now = max(float(math.floor(self.backend.now())), call.updated_at)
            talking = call.phase == Phase.TALKING
            self._end(ended, now, CallStatus.COMPLETED if talking else CallStatus.CANCELED)
            self.backend.put_call(ended)
            return ended

    def record_incoming(
        self,
        *,
        sid: str,
        tenant_id: str,
        caller: str,
        vn: str,
        start: float,
        script: Script,
        state_management: bool = False,
        record: bool = False,
        channels: str = "single",
        max_time_limit: int = DEFAULT_MAX_TIME_LIMIT,
        attempt_time_out: int = DEFAULT_ATTEMPT_TIME_OUT,
        direction: str = V1_INBOUND,
        custom_field: str | None = None,
    ) -> CallRecord:
        """Keeps a call whose course is scripted (an incoming one, or a classic call to a
        flow; numbers E.164), played up to now."""
        call = CallRecord(
            sid=sid,
            tenant_id=tenant_id,
            seq=next(self._sequence),
            from_number=caller,
            to_number=vn,
            virtual_number=vn,
            state_management=state_management,
            record=record,
            channels=channels,
            max_time_limit=max_time_limit,
            attempt_time_out=attempt_time_out,
            custom_field=custom_field,
            status_callbacks={},
            created_at=start,
            updated_at=start,
            direction=direction,
            script=script,
            next_at=start,
        )
        with self.backend.unit():
            now = self.backend.now()
            while call.next_at is not None and call.next_at <= now:
                self._step(call)
            self.backend.put_call(call)
        return call

    def busy(self, tenant_id: str, number: str) -> bool:
        """Whether a state-managed call of the account makes this user busy."""
        return self.store.busy_call(tenant_id, number) is not None

    # -- the lifecycle -----------------------------------------------------------------------------

    def advance(self) -> list[CallRecord]:
        """Takes every call through the steps whose time has come, in time order (one unit)."""
        with self.backend.unit():
            now = self.backend.now()
            heap = [(c.next_at, c.seq, c.copy()) for c in self.store.due(now)]
            heapq.heapify(heap)
            changed: dict[str, CallRecord] = {}
            while heap:
                _, _, call = heapq.heappop(heap)
                self._step(call)
                self.backend.put_call(call)
                changed[call.sid] = call
                if call.next_at is not None and call.next_at <= now:
                    heapq.heappush(heap, (call.next_at, call.seq, call))
            return list(changed.values())

    def _step(self, call: CallRecord) -> None:
        at = call.next_at
        assert at is not None
        if call.script is not None:
            self._play(call, at)
        elif call.phase in (Phase.DIALLING_FROM, Phase.DIALLING_TO):
            # The party of the last leg (`from`, then `to`) answers, or the call ends here.
            ringing = call.legs[-1]
            outcome = OUTCOMES.get(behaviour(ringing.contact))
            if outcome is not None:
                self._end(call, at, outcome)
                return
            ringing.answered_at = at
            call.updated_at = at
            if call.phase == Phase.DIALLING_FROM:
                call.legs.append(self._dial(call, 2, call.to_number, at))
                call.phase = Phase.DIALLING_TO
            else:
                call.phase = Phase.TALKING
                call.talk_started_at = at
                call.next_at = at + self._talk_seconds(call)
                self._notify(call, ANSWERED_EVENT)
        elif call.phase == Phase.TALKING:
            self._end(call, at, CallStatus.COMPLETED)

    def _play(self, call: CallRecord, at: float) -> None:
        """An incoming call as its script has it at `at`: legs dialled, answered, ended."""
        script = call.script
        assert script is not None
        for index, planned in enumerate(script.legs):
            if planned.created_at > at:
                break
            if index == len(call.legs):
                call.legs.append(Leg(sid=planned.sid, leg_number=planned.leg_number,
                                     contact=planned.contact, created_at=planned.created_at,
                                     direction=planned.direction))
            leg = call.legs[index]
            if planned.answered_at is not None and planned.answered_at <= at:
                leg.answered_at = planned.answered_at
            if planned.ended_at is not None and planned.ended_at <= at and leg.active:
                leg.ended_at, leg.status = planned.ended_at, planned.status
        if script.connected is not None and call.phase != Phase.TALKING:
            winner = script.legs[script.connected]
            if winner.answered_at is not None and winner.answered_at <= at:
                call.phase = Phase.TALKING
                call.talk_started_at = winner.answered_at
                call.connected_to = winner.contact
        call.updated_at = at
        if script.ends_at <= at:
            self._end(call, script.ends_at, script.status)
            return
        call.next_at = next(t for t in script.times() if t > at)

    def _dial(self, call: CallRecord, leg_number: int, number: str, at: float) -> Leg:
        """A new leg ringing `number` from `at`; the call's next step is its outcome."""
        party = behaviour(number)
        if party == Behaviour.NEVER_ANSWERS:
            call.next_at = at + call.attempt_time_out
        elif party in (Behaviour.REFUSES_BUSY, Behaviour.FAILS):
            call.next_at = at + REFUSE_SECONDS
        else:
            call.next_at = at + RING_SECONDS
        return Leg(sid=self.backend.ids.hex(32), leg_number=leg_number, contact=number,
                   created_at=at)

    def _talk_seconds(self, call: CallRecord) -> int:
        parties = (behaviour(call.from_number), behaviour(call.to_number))
        if Behaviour.NEVER_HANGS_UP in parties:
            return call.max_time_limit
        return min(TALK_SECONDS, call.max_time_limit)

    def _end(self, call: CallRecord, at: float, status: str) -> None:
        """The call is over at `at`: answered legs end `completed`, the others with `status`."""
        for leg in call.legs:
            if leg.active:
                leg.ended_at = at
                leg.status = CallStatus.COMPLETED if leg.answered_at is not None else status
        call.phase = Phase.ENDED
        call.next_at = None
        call.ended_at = at
        call.status = status
        call.updated_at = at
        self._notify(call, TERMINAL_EVENT)

    def _notify(self, call: CallRecord, event: str) -> None:
        url = call.status_callbacks.get(event)
        if url is not None:
            # One call's status callbacks arrive in order, through retries too.
            self.backend.emit(
                call.tenant_id, STATUS_CALLBACK, status_payload(call, event), url=url,
                sequence=call.sid,
            )

    @staticmethod
    def _number(value: str, where: str) -> str:
        try:
            return to_e164(value)
        except InvalidNumber as exc:
            raise invalid_body(f"{where} is invalid: {exc}") from None
