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
that number is refused with 409 meanwhile. Requests without state management are not checked.

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
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from itertools import count
from typing import TYPE_CHECKING, Any

from ..clock import format_iso, format_local, parse_local
from ..errors import BadCallQuery, CallNotFound, DeviceBusy, InvalidCallRequest
from ..numbers import InvalidNumber, national, to_e164
from ..settings import Tenant

if TYPE_CHECKING:
    from .backend import Backend
    from .ports import CallStore

# -- the documented defaults of the simulation ---------------------------------------------------

RING_SECONDS = 3
TALK_SECONDS = 10
REFUSE_SECONDS = 1
DEFAULT_ATTEMPT_TIME_OUT = 45
DEFAULT_MAX_TIME_LIMIT = 14400
PRICE_PER_MINUTE = Decimal("0.500")
RECORDING_URL = "https://recordings.exomock.invalid/{account}/{sid}.mp3"

# How a party behaves, chosen by the last four digits of its number.
ANSWERS = "answers"
NEVER_ANSWERS = "never-answers"
REFUSES_BUSY = "busy"
FAILS = "fails"
NEVER_HANGS_UP = "never-hangs-up"
MAGIC_SUFFIXES = {
    "0000": NEVER_ANSWERS,
    "0001": REFUSES_BUSY,
    "0002": FAILS,
    "0003": NEVER_HANGS_UP,
}

# -- the vocabulary of the spec --------------------------------------------------------------------

ACTIVE = "active"
TERMINAL = "terminal"
COMPLETED = "completed"
BUSY = "busy"
NO_ANSWER = "no-answer"
FAILED = "failed"
CANCELED = "canceled"
ANSWERED_EVENT = "answered"
TERMINAL_EVENT = "terminal"
STATUS_CALLBACK = "click_to_call_status"
OUTCOMES = {NEVER_ANSWERS: NO_ANSWER, REFUSES_BUSY: BUSY, FAILS: FAILED}
V1_STATUSES = {COMPLETED: "completed", BUSY: "busy", NO_ANSWER: "no-answer",
               FAILED: "failed", CANCELED: "no-answer"}
V1_DIRECTION = "outbound-api"
V1_INBOUND = "inbound"
OUTBOUND = "outbound"
INBOUND = "inbound"

# Where a call is in its lifecycle.
DIALLING_FROM = "dialling_from"
DIALLING_TO = "dialling_to"
TALKING = "talking"
ENDED = "ended"


def invalid_body(description: str) -> InvalidCallRequest:
    """The refusal of a body that fails parsing or validation."""
    return InvalidCallRequest(description)


def behaviour(number: str) -> str:
    return MAGIC_SUFFIXES.get(number[-4:], ANSWERS)


def answer_number(e164: str) -> str:
    """A number as the voice APIs answer it: Indian ones nationally with the trunk 0."""
    return national(e164) if e164.startswith("+91") else e164


@dataclass(frozen=True)
class CallRequest:
    """A checked click-to-call body; numbers as the client gave them."""

    from_contact: str
    to_contact: str
    virtual_number: str
    state_management: bool = False
    record: bool = False
    channels: str = "single"
    max_time_limit: int = DEFAULT_MAX_TIME_LIMIT
    attempt_time_out: int = DEFAULT_ATTEMPT_TIME_OUT
    custom_field: str | None = None
    # event -> URL
    status_callbacks: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Leg:
    sid: str
    leg_number: int
    contact: str  # E.164
    created_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    status: str | None = None
    direction: str = OUTBOUND

    @property
    def active(self) -> bool:
        return self.ended_at is None


@dataclass
class Script:
    """The course of an incoming call, decided when it came in and played out on the clock.

    `legs` are the legs as they will be, in the order dialled; a leg still talking at the end
    has no `ended_at` (the call's end ends it). `connected` is the index of the leg connected to
    the caller, if any.
    """

    legs: list[Leg]
    ends_at: float
    status: str
    connected: int | None = None

    def times(self) -> list[float]:
        found = {self.ends_at}
        for leg in self.legs:
            times = (leg.created_at, leg.answered_at, leg.ended_at)
            found.update(t for t in times if t is not None)
        return sorted(found)


@dataclass
class CallRecord:
    sid: str
    tenant_id: str
    seq: int
    from_number: str  # E.164
    to_number: str  # E.164
    virtual_number: str  # E.164
    state_management: bool
    record: bool
    channels: str
    max_time_limit: int
    attempt_time_out: int
    custom_field: str | None
    status_callbacks: dict[str, str]
    created_at: float
    updated_at: float
    phase: str = DIALLING_FROM
    next_at: float | None = None
    legs: list[Leg] = field(default_factory=list)
    talk_started_at: float | None = None
    ended_at: float | None = None
    status: str | None = None
    # The v1 direction: `outbound-api` (click-to-call, connect.json) or `inbound`.
    direction: str = V1_DIRECTION
    script: Script | None = None
    # Who the caller of an incoming call is talking to (E.164 or `sip:`), once answered.
    connected_to: str | None = None

    @property
    def active(self) -> bool:
        return self.phase != ENDED

    @property
    def managed_number(self) -> str | None:
        """The user this call makes busy under state management while it is active: a
        click-to-call's `from`, an incoming call's connected destination."""
        if not self.state_management:
            return None
        return self.connected_to if self.script is not None else self.from_number

    @property
    def state(self) -> str:
        return ACTIVE if self.active else TERMINAL

    @property
    def total_duration(self) -> int | None:
        return None if self.ended_at is None else int(self.ended_at - self.created_at)

    @property
    def total_talk_time(self) -> int | None:
        if self.ended_at is None:
            return None
        if self.talk_started_at is None:
            return 0
        return int(self.ended_at - self.talk_started_at)

    @property
    def recording_url(self) -> str | None:
        if not self.record or self.active or self.talk_started_at is None:
            return None
        return RECORDING_URL.format(account=self.tenant_id, sid=self.sid)

    @property
    def price(self) -> Decimal | None:
        duration = self.total_duration
        if duration is None:
            return None
        if not any(leg.answered_at is not None for leg in self.legs):
            return Decimal("0.000")
        return PRICE_PER_MINUTE * math.ceil(duration / 60)

    @property
    def v1_status(self) -> str:
        return "in-progress" if self.status is None else V1_STATUSES[self.status]

    def copy(self) -> CallRecord:
        """A copy to change: a stored call is never changed in place (its script, decided when
        the call came in, is never changed and stays shared)."""
        return replace(self, legs=[replace(leg) for leg in self.legs])


# -- the answers' views of a call ------------------------------------------------------------------


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else format_iso(epoch)


def _local(epoch: float | None) -> str | None:
    return None if epoch is None else format_local(epoch)


def call_details(call: CallRecord) -> dict[str, Any]:
    """`call_details` of the v3 answers and of the status callbacks."""
    url = call.recording_url
    return {
        "sid": call.sid,
        "direction": INBOUND if call.direction == V1_INBOUND else OUTBOUND,
        "virtual_number": answer_number(call.virtual_number),
        "state": call.state,
        "status": call.status,
        "legs": f"/v3/accounts/{call.tenant_id}/calls/{call.sid}/legs",
        "created_time": format_iso(call.created_at),
        "updated_time": format_iso(call.updated_at),
        "start_time": format_iso(call.created_at),
        "end_time": _iso(call.ended_at),
        "total_duration": call.total_duration,
        "total_talk_time": call.total_talk_time,
        "custom_field": call.custom_field,
        "app_id": None,
        "app_name": None,
        "digits": None,
        "recordings": None if url is None else [{"url": url, "channels": call.channels}],
    }


def leg_details(leg: Leg) -> dict[str, Any]:
    ended = leg.ended_at
    return {
        "leg_sid": leg.sid,
        "leg_number": leg.leg_number,
        "contact_uri": answer_number(leg.contact),
        "direction": leg.direction,
        "state": ACTIVE if leg.active else TERMINAL,
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
    return {"event_details": {"event_type": event}, "call_details": call_details(call)}


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


# -- the v1 list's filters -------------------------------------------------------------------------


def _list(raw: str | None) -> frozenset[str] | None:
    return None if raw is None else frozenset(v for v in raw.split(",") if v)


def _numbers(raw: str | None, name: str) -> frozenset[str] | None:
    values = _list(raw)
    if values is None:
        return None
    try:
        return frozenset(to_e164(v) for v in values)
    except InvalidNumber as exc:
        raise BadCallQuery(f"{name}: {exc}") from None


def _bounds(raw: str | None, parse: Any, name: str) -> tuple[Any, Any]:
    """(gte, lte) of a `gte:x;lte:y` filter; None where a side is not given."""
    low = high = None
    for part in (raw or "").split(";"):
        if not part:
            continue
        op, _, value = part.partition(":")
        try:
            bound = parse(value)
        except (ValueError, ArithmeticError):
            raise BadCallQuery(f"{name}: {value!r} is not a valid bound") from None
        if op == "gte":
            low = bound
        else:
            high = bound
    return low, high


def _within(value: Any, bounds: tuple[Any, Any]) -> bool:
    low, high = bounds
    if low is None and high is None:
        return True
    if value is None:
        return False
    return (low is None or value >= low) and (high is None or value <= high)


@dataclass(frozen=True)
class V1Filter:
    """The filters of `listCalls`; every one given must match (list filters: any value)."""

    sids: frozenset[str] | None = None
    created: tuple[float | None, float | None] = (None, None)
    to: frozenset[str] | None = None
    from_: frozenset[str] | None = None
    statuses: frozenset[str] | None = None
    duration: tuple[int | None, int | None] = (None, None)
    price: tuple[Decimal | None, Decimal | None] = (None, None)
    directions: frozenset[str] | None = None
    phone_numbers: frozenset[str] | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, Any]) -> V1Filter:
        """From a query already checked against the spec's shapes."""
        return cls(
            sids=_list(query.get("Sid")),
            created=_bounds(query.get("DateCreated"), parse_local, "DateCreated"),
            to=_numbers(query.get("To"), "To"),
            from_=_numbers(query.get("From"), "From"),
            statuses=_list(query.get("Status")),
            duration=_bounds(query.get("Duration"), int, "Duration"),
            price=_bounds(query.get("Price"), Decimal, "Price"),
            directions=_list(query.get("Direction")),
            phone_numbers=_numbers(query.get("PhoneNumber"), "PhoneNumber"),
        )

    def matches(self, call: CallRecord) -> bool:
        return (
            (self.sids is None or call.sid in self.sids)
            and _within(call.created_at, self.created)
            and (self.to is None or call.to_number in self.to)
            and (self.from_ is None or call.from_number in self.from_)
            and (self.statuses is None or call.v1_status in self.statuses)
            and _within(call.total_duration, self.duration)
            and _within(call.price, self.price)
            and (self.directions is None or call.direction in self.directions)
            and (self.phone_numbers is None or call.virtual_number in self.phone_numbers)
        )


@dataclass(frozen=True)
class V1Page:
    total: int
    calls: list[CallRecord]
    # The cursors of the neighbouring pages (`Before=` and `After=`), None at either end.
    before: str | None
    after: str | None


# -- the service -----------------------------------------------------------------------------------


class Calls:
    def __init__(self, backend: Backend, store: CallStore) -> None:
        self.backend = backend
        self.store = store
        # Calls are listed in the order they were made, across restarts too.
        self._sequence = count(store.last_seq() + 1)

    # -- requests of the API -----------------------------------------------------------------------

    def create(self, tenant: Tenant, request: CallRequest) -> CallRecord:
        """Places the call; InvalidCallRequest, CallNotFound or DeviceBusy when the domain's rules
        refuse it."""
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
        if request.state_management and self.store.busy_call(tenant.tenant_id, from_number):
            raise DeviceBusy(
                f"from.contact_uri {request.from_contact} is busy on another call",
            )
        with self.backend.unit():
            return self._place(tenant, request, from_number, to_number, vn)

    def _place(
        self, tenant: Tenant, request: CallRequest, from_number: str, to_number: str, vn: str
    ) -> CallRecord:
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
            self._end(ended, now, COMPLETED if call.phase == TALKING else CANCELED)
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
        elif call.phase == DIALLING_FROM:
            outcome = OUTCOMES.get(behaviour(call.from_number))
            if outcome is not None:
                self._end(call, at, outcome)
                return
            call.legs[0].answered_at = at
            call.legs.append(self._dial(call, 2, call.to_number, at))
            call.phase = DIALLING_TO
            call.updated_at = at
        elif call.phase == DIALLING_TO:
            outcome = OUTCOMES.get(behaviour(call.to_number))
            if outcome is not None:
                self._end(call, at, outcome)
                return
            call.legs[1].answered_at = at
            call.phase = TALKING
            call.talk_started_at = at
            call.next_at = at + self._talk_seconds(call)
            call.updated_at = at
            self._notify(call, ANSWERED_EVENT)
        elif call.phase == TALKING:
            self._end(call, at, COMPLETED)

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
        if script.connected is not None and call.phase != TALKING:
            winner = script.legs[script.connected]
            if winner.answered_at is not None and winner.answered_at <= at:
                call.phase = TALKING
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
        if party == NEVER_ANSWERS:
            call.next_at = at + call.attempt_time_out
        elif party in (REFUSES_BUSY, FAILS):
            call.next_at = at + REFUSE_SECONDS
        else:
            call.next_at = at + RING_SECONDS
        return Leg(sid=self.backend.ids.hex(32), leg_number=leg_number, contact=number,
                   created_at=at)

    def _talk_seconds(self, call: CallRecord) -> int:
        parties = (behaviour(call.from_number), behaviour(call.to_number))
        if NEVER_HANGS_UP in parties:
            return call.max_time_limit
        return min(TALK_SECONDS, call.max_time_limit)

    def _end(self, call: CallRecord, at: float, status: str) -> None:
        """The call is over at `at`: answered legs end `completed`, the others with `status`."""
        for leg in call.legs:
            if leg.active:
                leg.ended_at = at
                leg.status = COMPLETED if leg.answered_at is not None else status
        call.phase = ENDED
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

