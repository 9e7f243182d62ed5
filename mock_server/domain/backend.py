"""The mock's state and rules in one object, as a provider's backend would hold them."""

from __future__ import annotations

from .. import gc_tuning
from ..clock import Clock
from ..errors import ExoBridgeError
from ..ids import IdSource
from ..settings import Settings, Tenant, parse_duration
from ..store.base import Store
from ..store.calls import CallStore, MemoryCallStore
from .allocations import VAULT, Allocation, RouteTaken
from .calls import Calls
from .connect import ConnectApplet
from .events import EventSink, deallocation_payload
from .greenpin import GreenPins
from .greenvn import GreenVNs
from .incoming import IncomingCalls


class Backend:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        events: EventSink,
        clock: Clock | None = None,
        ids: IdSource | None = None,
        call_store: CallStore | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.events = events
        self.clock = clock or Clock()
        self.ids = ids or IdSource()
        self.greenpins = GreenPins(self)
        self.greenvns = GreenVNs(self)
        self.incoming = IncomingCalls(self)
        self.connect = ConnectApplet(self)
        self.calls = Calls(self, call_store or MemoryCallStore())
        # Connect applet URLs set at run time, by VN (None: removed); over the configured ones.
        self.connect_urls: dict[str, str | None] = {}

    def tenant(self, tenant_id: str) -> Tenant | None:
        return self.settings.tenants.get(tenant_id)

    def connect_url(self, vn: str) -> str | None:
        """The programmable Connect applet URL of a pool VN (E.164), if it has one."""
        if vn in self.connect_urls:
            return self.connect_urls[vn]
        for tenant in self.settings.tenants.values():
            number = tenant.pool_number(vn)
            if number is not None:
                return number.connect_url
        return None

    def lifetime(self, tenant: Tenant, duration: str | None) -> int:
        """Seconds until deallocation: the requested duration, or the tenant's default period."""
        if duration is None:
            return tenant.default_deallocation_seconds
        try:
            return parse_duration(duration)
        except ValueError as exc:
            raise ExoBridgeError(5, f"deallocation_policy.duration: {exc}") from None

    def save(self, allocation: Allocation) -> None:
        """Stores the allocation; code 19 when a number, code 4 when a PIN, that it claims on a
        VN is another active allocation's (nothing is stored then)."""
        try:
            self.store.save(allocation)
        except RouteTaken as taken:
            if taken.key.startswith("+"):
                raise ExoBridgeError(
                    19, f"{taken.key} is already registered on {taken.vn} in another active "
                    "allocation"
                ) from None
            raise ExoBridgeError(4, f"PIN {taken.key} is already in use on {taken.vn}") from None

    def deallocate(self, allocation: Allocation) -> None:
        """Frees the allocation's numbers and PINs, keeps it in the vault, tells the tenant."""
        allocation.state = VAULT
        allocation.deallocated_at = self.clock.now()
        self.store.save(allocation)
        self.events.emit(allocation.tenant_id, "deallocation", deallocation_payload(allocation))

    def deallocate_due(self) -> list[Allocation]:
        """Deallocates every allocation whose deallocation time has come."""
        due = self.store.due(self.clock.now())
        for allocation in due:
            self.deallocate(allocation)
        return due

    def tick(self) -> list[Allocation]:
        """Everything the clock has made due: calls' next steps, then deallocations."""
        self.calls.advance()
        return self.deallocate_due()

    def reset(self, tenant_id: str | None = None) -> None:
        self.store.reset(tenant_id)
        if tenant_id is None:
            # The dropped state may hold cycles among objects the collector no longer walks.
            gc_tuning.collect_everything()
        self.calls.reset(tenant_id)
        tenant = self.tenant(tenant_id) if tenant_id is not None else None
        for vn in list(self.connect_urls):
            if tenant_id is None or (tenant is not None and tenant.pool_number(vn)):
                del self.connect_urls[vn]
