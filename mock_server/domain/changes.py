"""The unit of work: everything one request (or one tick of the clock) changes, as data.

The domain computes a `Changeset` (every rule checked, every derived value made: ids, PINs,
times, callback payloads already checked against their schemas) and changes nothing itself; the
state commits it whole or not at all (`store/state.py`). So an answer that is not 2xx leaves the
allocations, calls, callback log, run-time settings and the state file as they were.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..clock import LATEST

if TYPE_CHECKING:
    from .allocations import Allocation
    from .call_model import CallRecord
    from .deliveries import Delivery


class StoreUnavailable(Exception):
    """The state could not be written (disk full, I/O error): nothing of the change was kept."""


class Faults:
    """Failures injected through the control plane: the next `count` provider requests answer
    code 0. Not part of any unit: using one up is the one change a failed request makes. Kept in
    memory; a store shared by processes keeps one count for all of them."""

    def __init__(self) -> None:
        self._left = 0

    def set(self, count: int) -> None:
        self._left = count

    def take(self) -> bool:
        """Whether this request is to fail (one fewer left if so)."""
        if self._left <= 0:
            return False
        self._left -= 1
        return True


@dataclass(frozen=True)
class RuntimeState:
    """What the control plane changes at run time, kept with the state (and its file).

    `callback_urls` holds, for each tenant whose URLs were changed, its URLs by event as they are
    now (a tenant absent here has its configured ones); `connect_urls`, by VN, the Connect applet
    URL set at run time (None: removed), over the configured ones.
    """

    clock_offset: float = 0.0
    callback_urls: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    connect_urls: Mapping[str, str | None] = field(default_factory=dict)

    def with_callback_urls(self, tenant_id: str, urls: Mapping[str, str]) -> RuntimeState:
        return replace(self, callback_urls={**self.callback_urls, tenant_id: dict(urls)})

    def with_connect_url(self, vn: str, url: str | None) -> RuntimeState:
        return replace(self, connect_urls={**self.connect_urls, vn: url})

    def as_json(self) -> dict[str, object]:
        return {
            "clock_offset": self.clock_offset,
            "callback_urls": {t: dict(u) for t, u in self.callback_urls.items()},
            "connect_urls": dict(self.connect_urls),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, object]) -> RuntimeState:
        offset = raw.get("clock_offset", 0.0)
        callback_urls = raw.get("callback_urls", {})
        connect_urls = raw.get("connect_urls", {})
        if (
            not isinstance(offset, int | float)
            or isinstance(offset, bool)
            or not 0 <= offset <= LATEST  # also refuses NaN
        ):
            raise ValueError("clock_offset is not a number of seconds the clock can be ahead")
        if not isinstance(callback_urls, dict) or not all(
            isinstance(urls, dict)
            and all(isinstance(e, str) and isinstance(u, str) for e, u in urls.items())
            for urls in callback_urls.values()
        ):
            raise ValueError("callback_urls is not a mapping of tenants to URLs by event")
        if not isinstance(connect_urls, dict) or not all(
            isinstance(u, str | None) for u in connect_urls.values()
        ):
            raise ValueError("connect_urls is not a mapping of VNs to URLs")
        return cls(float(offset), callback_urls, connect_urls)


@dataclass
class Changeset:
    """One unit of work. `now` is the one instant the whole unit sees."""

    now: float
    # New versions, the latest per (tenant, id) and per call SID, in the order first put.
    allocations: dict[tuple[str, str], Allocation] = field(default_factory=dict)
    calls: dict[str, CallRecord] = field(default_factory=dict)
    # New entries of the callback log (the outbox): sent once the unit is committed.
    deliveries: list[Delivery] = field(default_factory=list)
    # The run-time settings after the unit, when it changes them.
    runtime: RuntimeState | None = None
    # Tenants whose state is forgotten before the rest applies; None stands for every tenant.
    resets: list[str | None] = field(default_factory=list)

    def put(self, allocation: Allocation) -> None:
        self.allocations[(allocation.tenant_id, allocation.id)] = allocation

    def put_call(self, call: CallRecord) -> None:
        self.calls[call.sid] = call

    def add_deliveries(self, deliveries: list[Delivery]) -> None:
        self.deliveries.extend(deliveries)

    @property
    def empty(self) -> bool:
        return not (
            self.allocations or self.calls or self.deliveries or self.runtime or self.resets
        )
