"""The programmable Connect applet: an incoming call on a VN that carries a Connect URL.

The applet asks the client's URL where to connect the caller (an HTTP GET with the documented
query parameters, made and checked by the callback dispatcher) and dials what the answer says.
The readings chosen where document 003 is silent:

- the answer must be a 2xx with JSON valid against `connect_applet_response`; anything else
  (not JSON, another status, no answer in time, a schema violation) fails the call at once
  (outcome `connect_failed`) and the call record names the problem (`connect_errors`);
- destinations are dialled in the order given, one at a time; with `parallel_ringing.activate`
  in groups of `max_parallel_attempts` (all of them when not given) that ring together: the first
  to answer is connected (the earlier in the list on a tie), the others still ringing are
  `canceled`;
- with `state_management` true, a destination busy on a state-managed call of the account (a
  click-to-call from it, or another Connect call connected to it) is skipped, and the destination
  connected is busy until the call ends;
- a destination behaves by the last four digits of its number, as click-to-call parties do
  (`0000` rings until `max_ringing_duration`, `0001` busy, `0002` fails, `0003` talks until
  `max_conversation_duration`; any other answers after 3 s). A `sip:` destination answers the
  same way (the mock has no SIP registrations), its user part choosing by the same four digits;
- a destination that is not a valid phone number is skipped (the schema's pattern lets some
  through that are not numbers), as is one already listed earlier in the same answer;
- `sticky_agent` puts first the destination that last talked to this caller on this VN;
- `fetch_after_attempt`: after each unsuccessful attempt (one destination, or one group) the URL
  is asked again, with `DialWhomNumber` and `DialCallDuration` of that attempt, and its answer
  says what comes next; at most MAX_FETCHES requests per call;
- `outgoing_phone_number`, `music_on_hold`, `start_call_playback` and `call_event_passthru_url`
  are accepted and have no effect the mock can show (no audio; the passthru events' payload is
  not described, so none is sent).

The call takes no time on the mock's clock: it is decided when it comes in and recorded as an
`inbound` call that plays out on the clock (`domain/calls.py`, `Script`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..numbers import InvalidNumber, to_e164
from ..settings import Tenant
from . import payloads
from .call_model import (
    DEFAULT_MAX_TIME_LIMIT,
    INBOUND,
    REFUSE_SECONDS,
    RING_SECONDS,
    V1_INBOUND,
    Behaviour,
    CallStatus,
    Leg,
    Script,
    behaviour,
)
from .deliveries import Delivery
from .incoming import (
    IncomingCall,
    IncomingCallResult,
    Outcome,
)

if TYPE_CHECKING:
    from .backend import Backend

from .connect_answer import (
    DEFAULT_RINGING_SECONDS,
    DIALLED_CONNECTED,
    MAX_FETCHES,
    SKIPPED,
    TO_DIAL,
    Dial,
    Fetch,
    Options,
)


class ConnectApplet:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def receive(
        self, tenant: Tenant, call: IncomingCall, url: str, fetch: Fetch
    ) -> IncomingCallResult:
        """Plays the call through the applet (numbers checked by `IncomingCalls.connect_url`)."""
        vn, caller = to_e164(call.vn), to_e164(call.caller)
        start = float(math.floor(self.backend.now()))
        sid = self.backend.calls.new_sid()
        result = IncomingCallResult(
            call_sid=sid, outcome="", reason="", vn=vn, caller=caller, flow="connect",
            connect_url=url, destinations=[],
        )
        dials: list[Dial] = []
        now = start
        last: list[Dial] = []
        options: Options | None = None
        winner: Dial | None = None
        attempts = 0
        requests: list[Delivery] = []
        while True:
            query = self._query(sid, caller, vn, start, now, last)
            fetched = await fetch(tenant.tenant_id, url, query)
            requests.append(fetched.delivery)
            result.connect_requests += 1
            if fetched.errors or fetched.answer is None:
                result.connect_errors = list(fetched.errors)
                break
            options = Options.of(fetched.answer)
            listed = self._destinations(tenant, fetched.answer, caller, vn, options)
            dials.extend(listed)
            queue = [d for d in listed if d.status != SKIPPED]
            width = options.parallel
            groups = [queue[i : i + width] for i in range(0, len(queue), width)]
            if options.fetch_after_attempt:
                groups = groups[:1]
            for group in groups:
                attempts += 1
                now, winner = self._ring(group, now, attempts, options)
                last = group
                if winner is not None:
                    break
            if (
                winner is not None
                or not options.fetch_after_attempt
                or not groups
                or result.connect_requests >= MAX_FETCHES
            ):
                break
        # The call and the requests made for it are kept together, once the applet is done.
        with self.backend.unit():
            self.backend.log_deliveries(requests)
            self._finish(tenant, result, dials, winner, options, start, now, call)
        return result

    # -- the steps ------------------------------------------------------------------------------

    @staticmethod
    def _query(
        sid: str, caller: str, vn: str, start: float, now: float, last: list[Dial]
    ) -> dict[str, str]:
        """The documented query of the applet's GET (numbers nationally with the trunk 0)."""
        numbers = [d.number for d in last if d.number and not d.number.startswith("sip:")]
        previous = numbers[-1] if numbers else None
        duration = 0
        if last:
            duration = int(max((d.ended_at or now) for d in last) - min(
                d.started_at or now for d in last))
        return payloads.connect_applet_request(
            call_sid=sid, caller=caller, vn=vn, start=start, current=now,
            dial_call_duration=duration, dialled=previous,
        )

    def _destinations(
        self, tenant: Tenant, answer: dict[str, Any], caller: str, vn: str, options: Options
    ) -> list[Dial]:
        """The answer's destinations in the order to dial, those not to dial marked skipped."""
        dials = []
        seen: set[str] = set()
        for entry in answer["destination"]:
            uri = entry["contact_uri"]
            dial = Dial(contact_uri=uri, number=None)
            if uri.startswith("sip:"):
                dial.number = uri
            else:
                try:
                    dial.number = to_e164(uri)
                except InvalidNumber:
                    dial.reason = "not a valid phone number"
                    dials.append(dial)
                    continue
            if dial.number in seen:
                dial.reason = "listed earlier in the same answer"
            elif options.state_management and self.backend.calls.busy(
                tenant.tenant_id, dial.number
            ):
                dial.reason = "busy on another state-managed call"
            else:
                dial.status = TO_DIAL
            seen.add(dial.number)
            dials.append(dial)
        if options.sticky_agent:
            last_agent = self._last_agent(tenant, caller, vn)
            sticky = [d for d in dials if d.status != SKIPPED and d.number == last_agent]
            if sticky:
                dials.remove(sticky[0])
                dials.insert(0, sticky[0])
                sticky[0].reason = "sticky agent: last talked to this caller"
        return dials

    def _last_agent(self, tenant: Tenant, caller: str, vn: str) -> str | None:
        """Who the caller's last connected call on this VN was (or is) connected to."""
        for record in reversed(self.backend.calls.store.calls(tenant.tenant_id)):
            script = record.script
            if (
                record.direction == V1_INBOUND
                and record.from_number == caller
                and record.virtual_number == vn
                and script is not None
                and script.connected is not None
            ):
                return script.legs[script.connected].contact
        return None

    @staticmethod
    def _ring(
        group: list[Dial], at: float, attempt: int, options: Options
    ) -> tuple[float, Dial | None]:
        """Rings the group from `at`: when it is over, and who answered first (if anyone)."""
        ring_limit = options.ring_seconds
        for dial in group:
            assert dial.number is not None
            dial.attempt, dial.started_at = attempt, at
            party = behaviour(dial.number)
            picks_up = party in (Behaviour.ANSWERS, Behaviour.NEVER_HANGS_UP)
            if picks_up and ring_limit >= RING_SECONDS:
                dial.answered_at = at + RING_SECONDS
            elif picks_up or party == Behaviour.NEVER_ANSWERS:
                dial.status, dial.ended_at = CallStatus.NO_ANSWER, at + ring_limit
                dial.reason = f"did not answer within {ring_limit} s"
            elif party == Behaviour.REFUSES_BUSY:
                dial.status, dial.ended_at = CallStatus.BUSY, at + REFUSE_SECONDS
                dial.reason = "busy"
            else:
                dial.status, dial.ended_at = CallStatus.FAILED, at + REFUSE_SECONDS
                dial.reason = "the call could not be placed"
        answering = [d for d in group if d.answered_at is not None]
        if not answering:
            return max(d.ended_at or at for d in group), None
        winner = min(answering, key=lambda d: d.answered_at or 0.0)
        answered = winner.answered_at
        assert answered is not None
        for dial in group:
            if dial is winner:
                dial.status, dial.reason = DIALLED_CONNECTED, dial.reason or "answered first"
            elif dial.answered_at is not None or (dial.ended_at or at) > answered:
                dial.status, dial.answered_at, dial.ended_at = CallStatus.CANCELED, None, answered
                dial.reason = "another destination answered first"
        return answered, winner

    def _finish(
        self,
        tenant: Tenant,
        result: IncomingCallResult,
        dials: list[Dial],
        winner: Dial | None,
        options: Options | None,
        start: float,
        now: float,
        call: IncomingCall,
    ) -> None:
        ids = self.backend.ids
        for dial in dials:
            if dial.status == TO_DIAL:
                dial.status = SKIPPED
                dial.reason = (
                    "not dialled: the call was connected before its turn"
                    if winner is not None
                    else "not dialled: fetch_after_attempt makes one attempt per answer"
                    if result.connect_errors is None
                    else "not dialled: the URL's next answer failed the call"
                )
        caller_leg = Leg(sid=ids.hex(32), leg_number=1, contact=result.caller, created_at=start,
                         direction=INBOUND)
        tried = [d for d in dials if d.dialled]
        if options is not None:
            caller_leg.answered_at = start  # the applet picked up; the caller hears music
        end = now
        if winner is not None and options is not None:
            assert winner.number is not None
            assert winner.answered_at is not None
            talk = (
                options.max_talk_seconds
                if behaviour(winner.number) == Behaviour.NEVER_HANGS_UP
                else min(call.talk_seconds, options.max_talk_seconds)
            )
            end = winner.answered_at + talk
            status = CallStatus.COMPLETED
            result.outcome = Outcome.CONNECTED
            result.reason = f"connected to {winner.number}"
            result.on_call_duration = talk
        elif result.connect_errors is not None:
            status = CallStatus.FAILED
            result.outcome = Outcome.CONNECT_FAILED
            result.reason = "the Connect URL's answer cannot be used: " + "; ".join(
                result.connect_errors[:3]
            )
        else:
            statuses = {d.status for d in tried}
            if CallStatus.NO_ANSWER in statuses:
                status, result.outcome = CallStatus.NO_ANSWER, Outcome.NOT_ANSWERED
            elif CallStatus.BUSY in statuses or not tried:
                status, result.outcome = CallStatus.BUSY, Outcome.BUSY
            else:
                status, result.outcome = CallStatus.FAILED, Outcome.NOT_ANSWERED
            result.reason = (
                "no destination could be dialled: "
                + "; ".join(f"{d.contact_uri} {d.reason}" for d in dials)
                if not tried
                else f"no destination answered ({len(tried)} dialled)"
            )
        legs = [caller_leg]
        connected = None
        for dial in tried:
            assert dial.number is not None
            assert dial.started_at is not None
            leg = Leg(sid=ids.hex(32), leg_number=len(legs) + 1, contact=dial.number,
                      created_at=dial.started_at, answered_at=dial.answered_at)
            if dial is winner:
                connected = len(legs)
            else:
                leg.ended_at, leg.status = dial.ended_at, dial.status
            legs.append(leg)
        self.backend.calls.record_incoming(
            sid=result.call_sid,
            tenant_id=tenant.tenant_id,
            caller=result.caller,
            vn=result.vn,
            start=start,
            script=Script(legs=legs, ends_at=end, status=status, connected=connected),
            state_management=bool(options and options.state_management),
            record=bool(options and options.record),
            channels=options.channels if options else "single",
            max_time_limit=options.max_talk_seconds if options else DEFAULT_MAX_TIME_LIMIT,
            attempt_time_out=options.ring_seconds if options else DEFAULT_RINGING_SECONDS,
        )
        last = winner or (tried[-1] if tried else None)
        result.dialled = last.number if last else None
        result.connected_to = winner.number if winner else None
        result.dial_call_status = (
            CallStatus.COMPLETED if winner else (last.status if last else None)
        )
        if last is not None and last.started_at is not None:
            result.dial_call_duration = int((last.ended_at or end) - last.started_at)
        result.duration = int(end - start)
        result.destinations = [d.as_json(start, end) for d in dials]
