"""What the domain needs of the places state is kept: the interfaces it is written against.

The domain knows only these; `store/` implements them and the application composes them
(`app.create_app`), so no domain module imports a store.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from .allocations import Allocation, SearchCriteria
from .call_model import CallRecord
from .changes import Changeset, Faults, RuntimeState
from .deliveries import Delivery


class Store(ABC):
    """Allocations of every tenant and the indexes derived from them.

    Changed only through `check` then `apply` (the state's commit does both), so the indexes
    (routes on VNs, active client references, the deallocation schedule) can never disagree with
    the allocations. Lookups by key never scan.
    """

    @abstractmethod
    def get(self, tenant_id: str, allocation_id: str) -> Allocation | None:
        """The allocation, active or deallocated."""

    @abstractmethod
    def active_by_ref(self, tenant_id: str, kind: str, ref: str) -> Allocation | None:
        """The active allocation of that kind holding this transaction or connection id."""

    @abstractmethod
    def route(self, vn: str, key: str) -> Allocation | None:
        """The active allocation that a number or PIN reaches on a VN (`party_reached` says
        which of its parties)."""

    @abstractmethod
    def has_routes(self, vn: str) -> bool:
        """Whether any active allocation is served on the VN."""

    @abstractmethod
    def oneway_destination(self, vn: str, number: str) -> Allocation | None:
        """An active oneway allocation whose B party holds the number on the VN (the one
        created last), which refuses the number's calls."""

    @abstractmethod
    def check(self, versions: Mapping[tuple[str, str], Allocation]) -> None:
        """Raises `RouteTaken` when a number or PIN that one of these new versions claims on a
        VN is held by an active allocation other than itself (and not given up by a version in
        the same mapping), or claimed by two of them. Changes nothing.

        A stored allocation is changed by a changed copy (`Allocation.copy`), never in place.
        """

    @abstractmethod
    def apply(self, versions: Iterable[Allocation]) -> None:
        """Inserts or replaces the allocations, with their routes; `check` has passed."""

    @abstractmethod
    def search(
        self, tenant_id: str, kind: str, criteria: SearchCriteria, offset: int, limit: int
    ) -> tuple[int, list[Allocation]]:
        """How many match, and one page of them, newest first."""

    @abstractmethod
    def due(self, now: float) -> list[Allocation]:
        """Active allocations whose deallocation time has come, earliest first (then in order of
        creation). Only looks: they stay due until a deallocated version is applied."""

    @abstractmethod
    def next_due(self) -> float | None:
        """The earliest deallocation time of an active allocation, if any."""

    @abstractmethod
    def allocations(self, tenant_id: str) -> Iterable[Allocation]:
        """Every allocation of a tenant, oldest first."""

    @abstractmethod
    def reset(self, tenant_id: str | None = None) -> None:
        """Forgets a tenant's allocations, or everyone's."""

    def save(self, allocation: Allocation) -> None:
        """`check` and `apply` for one allocation: for code that keeps allocations without a
        unit of work (tests, benchmarks)."""
        self.check({(allocation.tenant_id, allocation.id): allocation})
        self.apply((allocation,))

    def close(self) -> None:  # noqa: B027 - a store without resources has nothing to close
        """Releases what the store holds open; nothing by default."""


class CallStore(ABC):
    """Calls, kept apart from allocations: their own lifecycle and indexes (the calls whose next
    step is due, the state-managed users that are busy). `apply` is the only write."""

    @abstractmethod
    def get(self, sid: str) -> CallRecord | None:
        """The call with this SID, of any account (SIDs are unique across accounts)."""

    @abstractmethod
    def apply(self, calls: Iterable[CallRecord]) -> None:
        """Inserts or replaces the calls; their indexes are those of their new state."""

    @abstractmethod
    def due(self, now: float) -> list[CallRecord]:
        """Active calls whose next step is due at `now`, earliest step first."""

    @abstractmethod
    def busy_call(self, tenant_id: str, number: str) -> CallRecord | None:
        """The active state-managed call that makes this user busy: a click-to-call from the
        number, or an incoming call connected to it (`CallRecord.managed_number`)."""

    @abstractmethod
    def calls(self, tenant_id: str) -> list[CallRecord]:
        """Every call of the account, oldest first."""

    @abstractmethod
    def last_seq(self) -> int:
        """The highest `seq` of any call kept (0 without calls)."""

    @abstractmethod
    def reset(self, tenant_id: str | None = None) -> None:
        """Forgets an account's calls, or everyone's."""

    def save(self, call: CallRecord) -> None:
        self.apply((call,))


class DeliveryLookup(Protocol):
    def get(self, delivery_id: str) -> Delivery | None: ...


class StateStore(Protocol):
    """Everything the mock keeps, and the one way to change it."""

    @property
    def allocations(self) -> Store: ...

    @property
    def calls(self) -> CallStore: ...

    @property
    def log(self) -> DeliveryLookup: ...

    @property
    def runtime(self) -> RuntimeState: ...

    @property
    def faults(self) -> Faults: ...

    def exclusive(self) -> contextlib.AbstractContextManager[None]:
        """Held around every unit of work (`Backend.exclusive`): no other process commits
        between what the unit reads and what it commits."""
        ...

    def observe(self, listener: Callable[[Changeset], None]) -> None:
        """Tells `listener` of each unit another process committed, once applied here."""
        ...

    def commit(self, changes: Changeset) -> None:
        """Applies the whole changeset, or raises and applies nothing: `RouteTaken` when a route
        it claims is taken, `StoreUnavailable` when the state file cannot be written."""
