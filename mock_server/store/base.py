"""The store interface: where allocations live, with the indexes routing and uniqueness need."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

from ..domain.allocations import Allocation, SearchCriteria


class Store(ABC):
    """Allocations of every tenant and the indexes derived from them.

    `save` is the only write: the indexes (routes on VNs, active client references, the
    deallocation schedule) follow the allocation saved, so they can never disagree with it.
    Lookups by key never scan.
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
    def save(self, allocation: Allocation) -> None:
        """Inserts or replaces the allocation; its routes are those of its new state.

        Raises `RouteTaken`, and changes nothing, when a number or PIN it claims on a VN is
        another active allocation's. A stored allocation is changed by saving a changed copy
        (`Allocation.copy`); saving the stored object itself is only for ending it (its state).
        """

    @abstractmethod
    def search(
        self, tenant_id: str, kind: str, criteria: SearchCriteria, offset: int, limit: int
    ) -> tuple[int, list[Allocation]]:
        """How many match, and one page of them, newest first."""

    @abstractmethod
    def due(self, now: float) -> list[Allocation]:
        """Active allocations whose deallocation time has come, earliest first (then in order of
        creation)."""

    @abstractmethod
    def next_due(self) -> float | None:
        """The earliest deallocation time of an active allocation, if any."""

    @abstractmethod
    def allocations(self, tenant_id: str) -> Iterable[Allocation]:
        """Every allocation of a tenant, oldest first."""

    @abstractmethod
    def reset(self, tenant_id: str | None = None) -> None:
        """Forgets a tenant's allocations, or everyone's."""

    def close(self) -> None:  # noqa: B027 - a store without resources has nothing to close
        """Releases what the store holds open (files, connections); nothing by default."""
