"""The mock's state and rules in one object, as a provider's backend would hold them.

Every change goes through a unit of work (`unit`): the domain's services put new versions of
allocations and calls and the callbacks they cause into the unit's `Changeset`, and the unit
commits it whole when the block ends without an exception, or drops it. Callbacks leave only
after their unit is committed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from .. import gc_tuning
from ..clock import Clock
from ..errors import Code, ExoBridgeError
from ..ids import IdSource
from ..settings import Settings, Tenant, parse_duration
from . import payloads
from .allocations import GREENPIN, GREENVN, VAULT, Allocation, RouteTaken
from .call_model import CallRecord
from .calls import Calls
from .changes import Changeset, RuntimeState
from .connect import ConnectApplet
from .deliveries import Delivery
from .events import EventSink
from .greenpin import GreenPins
from .greenvn import GreenVNs
from .incoming import IncomingCalls
from .ports import StateStore

# How messages name an allocation of each kind.
_NAMES = {GREENPIN: "allocation", GREENVN: "GreenVN allocation"}


class Backend:
    def __init__(
        self,
        settings: Settings,
        state: StateStore,
        events: EventSink,
        clock: Clock | None = None,
        ids: IdSource | None = None,
    ) -> None:
        self.settings = settings
        self.state = state
        self.store = state.allocations
        self.events = events
        self.clock = clock or Clock()
        self.clock.set_offset(state.runtime.clock_offset)
        self.ids = ids or IdSource()
        self.greenpins = GreenPins(self)
        self.greenvns = GreenVNs(self)
        self.incoming = IncomingCalls(self)
        self.connect = ConnectApplet(self)
        self.calls = Calls(self, state.calls)
        self._changes: Changeset | None = None
        self._exclusive = False
        state.observe(self._committed_elsewhere)

    # -- the unit of work -----------------------------------------------------------------------

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Holds the state for one unit of work, or for reads that decide what a unit changes
        (a store shared by processes locks here, and catches up first). Re-entrant."""
        if self._exclusive:
            yield
            return
        with self.state.exclusive():
            self._exclusive = True
            try:
                yield
            finally:
                self._exclusive = False

    def _committed_elsewhere(self, changes: Changeset) -> None:
        """A unit another process committed on a shared store: its clock and resets count
        here too."""
        if changes.runtime is not None:
            self.clock.set_offset(changes.runtime.clock_offset)
        for tenant_id in changes.resets:
            self.events.forget(tenant_id)

    @contextlib.contextmanager
    def unit(self, now: float | None = None) -> Iterator[Changeset]:
        """One unit of work: committed whole when the block ends, dropped when it raises.

        Inside a unit already open, this joins it (its changes commit with the outer unit's).
        `now` is the instant the unit sees (the clock's now unless given).
        """
        if self._changes is not None:
            yield self._changes
            return
        with self.exclusive():
            changes = Changeset(now=self.clock.now() if now is None else now)
            self._changes = changes
            try:
                yield changes
                if not changes.empty:
                    self._commit(changes)
            finally:
                self._changes = None
        if changes.deliveries:
            self.events.dispatch(changes.deliveries)

    def _commit(self, changes: Changeset) -> None:
        try:
            self.state.commit(changes)
        except RouteTaken as taken:
            raise route_error(taken) from None
        if changes.runtime is not None:
            self.clock.set_offset(changes.runtime.clock_offset)

    def _open(self) -> Changeset:
        if self._changes is None:
            raise RuntimeError("a change outside a unit of work (Backend.unit)")
        return self._changes

    def now(self) -> float:
        """The current unit's instant, or the clock's now outside a unit."""
        return self._changes.now if self._changes is not None else self.clock.now()

    def put(self, allocation: Allocation) -> None:
        """A new version of an allocation, kept when the unit commits."""
        self._open().put(allocation)

    def put_call(self, call: CallRecord) -> None:
        self._open().put_call(call)

    def emit(
        self,
        tenant_id: str,
        event: str,
        payload: dict[str, Any],
        url: str | None = None,
        sequence: str | None = None,
    ) -> None:
        """A callback, checked against its schema now and sent once the unit is committed: to
        `url`, or to the tenant's URL for the event (logged without sending when it has none)."""
        changes = self._open()
        if url is None:
            urls = self.callback_urls(tenant_id)
            url = urls.get(event) or urls.get("*")
        changes.add_deliveries(self.events.prepare(tenant_id, event, payload, url, sequence))

    def log_deliveries(self, deliveries: list[Delivery]) -> None:
        """Requests the mock made already (the Connect applet's), logged with the unit."""
        self._open().add_deliveries(deliveries)

    # -- rules shared by the services -----------------------------------------------------------

    def tenant(self, tenant_id: str) -> Tenant | None:
        return self.settings.tenants.get(tenant_id)

    def lifetime(self, tenant: Tenant, duration: str | None) -> int:
        """Seconds until deallocation: the requested duration, or the tenant's default period."""
        if duration is None:
            return tenant.default_deallocation_seconds
        try:
            return parse_duration(duration)
        except ValueError as exc:
            raise ExoBridgeError(
                Code.BAD_PARAMETERS, f"deallocation_policy.duration: {exc}"
            ) from None

    def allocation(self, tenant: Tenant, kind: str, allocation_id: str) -> Allocation:
        """The tenant's allocation of `kind` (GreenPin or GreenVN); not found when there is none."""
        allocation = self.store.get(tenant.tenant_id, allocation_id)
        if allocation is None or allocation.kind != kind:
            raise ExoBridgeError(
                Code.GREENPIN_NOT_FOUND,
                f"no {_NAMES[kind]} {allocation_id!r} for tenant {tenant.tenant_id}",
            )
        return allocation

    def delete(self, tenant: Tenant, kind: str, allocation_id: str) -> Allocation:
        """Deallocates the tenant's active allocation of `kind` now, in a unit of its own."""
        allocation = self.allocation(tenant, kind, allocation_id)
        if not allocation.active:
            raise ExoBridgeError(
                Code.ALREADY_DELETED, f"{_NAMES[kind]} {allocation_id} was deallocated already"
            )
        with self.unit():
            return self.deallocate(allocation)

    def deallocate(self, allocation: Allocation, at: float | None = None) -> Allocation:
        """Frees the allocation's numbers and PINs, keeps it in the vault, tells the tenant; it
        ended `at` (now unless given)."""
        ended = allocation.copy()
        ended.state = VAULT
        ended.deallocated_at = self.now() if at is None else at
        self.put(ended)
        self.emit(ended.tenant_id, "deallocation", payloads.deallocation(ended))
        return ended

    def deallocate_due(self) -> list[Allocation]:
        """Deallocates, in one unit, every allocation whose deallocation time has come."""
        due_at = self.store.next_due()
        if due_at is None or due_at > self.now():
            return []
        with self.unit():
            # Each ended when it was due, however late the clock's move or tick found it.
            return [self.deallocate(a, at=a.deallocate_at) for a in self.store.due(self.now())]

    def tick(self) -> list[Allocation]:
        """Everything the clock has made due, in one unit: calls' next steps, then
        deallocations."""
        with self.unit():
            self.calls.advance()
            return self.deallocate_due()

    # -- run-time state, changed by the control plane -------------------------------------------

    def advance_clock(self, seconds: float) -> list[Allocation]:
        """Moves the clock on, and does what became due, in one unit; ValueError when the clock
        would go back or past its end (`clock.LATEST`)."""
        with self.exclusive():
            offset = self.clock.checked_offset(seconds)
            runtime = self.state.runtime
            with self.unit(now=self.clock.now() + seconds) as changes:
                changes.runtime = replace(runtime, clock_offset=offset)
                return self.tick()

    def callback_urls(self, tenant_id: str) -> Mapping[str, str]:
        """The tenant's callback URLs by event (`*`: every event), as they are now."""
        changes = self._changes
        runtime = changes.runtime if changes and changes.runtime else self.state.runtime
        urls = runtime.callback_urls.get(tenant_id)
        if urls is not None:
            return urls
        tenant = self.tenant(tenant_id)
        return tenant.callback_urls if tenant is not None else {}

    def set_callback_urls(
        self, tenant_id: str, changes: Mapping[str, str | None]
    ) -> Mapping[str, str]:
        """Sets (or, with None, removes) the tenant's URL of each event given."""
        with self.unit() as unit:
            urls = dict(self.callback_urls(tenant_id))
            for event, url in changes.items():
                if url is None:
                    urls.pop(event, None)
                else:
                    urls[event] = url
            unit.runtime = self.state.runtime.with_callback_urls(tenant_id, urls)
        return urls

    def connect_url(self, vn: str) -> str | None:
        """The programmable Connect applet URL of a pool VN (E.164), if it has one."""
        connect_urls = self.state.runtime.connect_urls
        if vn in connect_urls:
            return connect_urls[vn]
        for tenant in self.settings.tenants.values():
            number = tenant.pool_number(vn)
            if number is not None:
                return number.connect_url
        return None

    def set_connect_url(self, vn: str, url: str | None) -> None:
        with self.unit() as unit:
            unit.runtime = self.state.runtime.with_connect_url(vn, url)

    def redeliver(self, delivery_id: str, url: str | None = None) -> Delivery | None:
        """A new delivery of a logged callback (to `url`, or where the original went)."""
        original = self.state.log.get(delivery_id)
        if original is None:
            return None
        with self.unit() as changes:
            again = self.events.redelivery(original, url)
            changes.add_deliveries([again])
        return again

    def set_faults(self, internal_errors: int) -> None:
        """The next `internal_errors` provider requests answer code 0 (`POST /_mock/faults`)."""
        self.state.faults.set(internal_errors)

    def take_fault(self) -> None:
        if self.state.faults.take():
            raise ExoBridgeError(Code.INTERNAL_ERROR, "fault injected through /_mock/faults")

    def reset(self, tenant_id: str | None = None) -> None:
        """Forgets a tenant's state (allocations, calls, callbacks, run-time URLs), or everyone's
        (and the clock's offset and injected faults too)."""
        with self.exclusive():
            self._reset(tenant_id)
            if tenant_id is None:
                self.state.faults.set(0)
        self.events.forget(tenant_id)
        if tenant_id is None:
            # The dropped state may hold cycles among objects the collector no longer walks.
            gc_tuning.collect_everything()

    def _reset(self, tenant_id: str | None) -> None:
        runtime = self.state.runtime
        if tenant_id is None:
            new_runtime = RuntimeState()
        else:
            tenant = self.tenant(tenant_id)
            new_runtime = RuntimeState(
                runtime.clock_offset,
                {t: u for t, u in runtime.callback_urls.items() if t != tenant_id},
                {
                    vn: url
                    for vn, url in runtime.connect_urls.items()
                    if tenant is None or tenant.pool_number(vn) is None
                },
            )
        with self.unit() as changes:
            changes.resets.append(tenant_id)
            changes.runtime = new_runtime


def route_error(taken: RouteTaken) -> ExoBridgeError:
    """Code 19 when a number, code 4 when a PIN, that an allocation claims on a VN is another
    active allocation's."""
    if taken.key.startswith("+"):
        return ExoBridgeError(
            Code.NUMBER_HAS_ANOTHER_PIN,
            f"{taken.key} is already registered on {taken.vn} in another active allocation"
        )
    return ExoBridgeError(Code.NO_FREE_GREENPIN, f"PIN {taken.key} is already in use on {taken.vn}")
