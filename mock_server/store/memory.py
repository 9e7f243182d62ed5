"""The default store: dictionaries and a heap, nothing written to disk."""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from ..domain.allocations import Allocation, RouteTaken, SearchCriteria
from .base import Store


def _deallocation_order(allocation: Allocation) -> tuple[float, float, str]:
    return allocation.deallocate_at, allocation.created_at, allocation.id


class MemoryStore(Store):
    def __init__(self) -> None:
        self._allocations: dict[str, dict[str, Allocation]] = {}
        # (tenant, kind) -> client reference -> active allocation. Nested rather than keyed by a
        # tuple: a million tuple keys would cost 64 bytes each.
        self._refs: dict[tuple[str, str], dict[str, Allocation]] = {}
        # VN -> number or PIN -> the active allocation it reaches.
        self._routes: dict[str, dict[str, Allocation]] = {}
        # A heap of (deallocation time, tenant, id), pushed again when a new version has a new
        # time; an entry that no longer matches the stored allocation is skipped when it comes
        # up. Ids rather than allocations, so that a replaced version is freed at once.
        self._schedule: list[tuple[float, str, str]] = []

    def get(self, tenant_id: str, allocation_id: str) -> Allocation | None:
        return self._allocations.get(tenant_id, {}).get(allocation_id)

    def active_by_ref(self, tenant_id: str, kind: str, ref: str) -> Allocation | None:
        refs = self._refs.get((tenant_id, kind))
        return refs.get(ref) if refs else None

    def route(self, vn: str, key: str) -> Allocation | None:
        routes = self._routes.get(vn)
        return routes.get(key) if routes else None

    def has_routes(self, vn: str) -> bool:
        return bool(self._routes.get(vn))

    def save(self, allocation: Allocation) -> None:
        tenant = self._allocations.get(allocation.tenant_id)
        if tenant is None:
            tenant = self._allocations[allocation.tenant_id] = {}
        old = tenant.get(allocation.id)
        if old is allocation and allocation.active:
            # Its routes and time may have changed with no way to tell what they were.
            raise ValueError("an active allocation is changed by saving a changed copy of it")
        if old is not None:
            self._unindex(old)
        if allocation.active:
            try:
                self._claim_routes(allocation)
            except RouteTaken:
                if old is not None:
                    self._index(old)
                raise
            refs = self._refs.get((allocation.tenant_id, allocation.kind))
            if refs is None:
                refs = self._refs[(allocation.tenant_id, allocation.kind)] = {}
            refs[allocation.ref] = allocation
            if old is None or not old.active or old.deallocate_at != allocation.deallocate_at:
                heapq.heappush(
                    self._schedule,
                    (allocation.deallocate_at, allocation.tenant_id, allocation.id),
                )
        tenant[allocation.id] = allocation

    def _claim_routes(self, allocation: Allocation) -> None:
        """Points every route of the allocation at it, or none when one is another's."""
        claimed: list[tuple[dict[str, Allocation], str]] = []
        for vn, key in allocation.routes():
            by_key = self._routes.get(vn)
            if by_key is None:
                by_key = self._routes[vn] = {}
            owner = by_key.get(key)
            if owner is None:
                # Claimed at once and undone on a conflict, which is rare.
                by_key[key] = allocation
                claimed.append((by_key, key))
            elif owner is not allocation:
                for undo, undo_key in claimed:
                    del undo[undo_key]
                raise RouteTaken(vn, key, owner)

    def _index(self, allocation: Allocation) -> None:
        if not allocation.active:
            return
        for vn, key in allocation.routes():
            self._routes.setdefault(vn, {})[key] = allocation
        refs = self._refs.setdefault((allocation.tenant_id, allocation.kind), {})
        refs[allocation.ref] = allocation

    def _unindex(self, allocation: Allocation) -> None:
        for vn, key in allocation.routes():
            routes = self._routes.get(vn)
            if routes is not None and routes.get(key) is allocation:
                del routes[key]
        refs = self._refs.get((allocation.tenant_id, allocation.kind))
        if refs is not None and refs.get(allocation.ref) is allocation:
            del refs[allocation.ref]

    def search(
        self, tenant_id: str, kind: str, criteria: SearchCriteria, offset: int, limit: int
    ) -> tuple[int, list[Allocation]]:
        matching = [
            a
            for a in reversed(self._allocations.get(tenant_id, {}).values())
            if a.kind == kind and criteria.matches(a)
        ]
        return len(matching), matching[offset : offset + limit]

    def _scheduled(self, entry: tuple[float, str, str]) -> Allocation | None:
        """The allocation a schedule entry stands for, if it is active and due at that time."""
        when, tenant_id, allocation_id = entry
        allocation = self.get(tenant_id, allocation_id)
        if allocation is None or not allocation.active or allocation.deallocate_at != when:
            return None
        return allocation

    def due(self, now: float) -> list[Allocation]:
        found: dict[tuple[str, str], Allocation] = {}
        while self._schedule and self._schedule[0][0] <= now:
            allocation = self._scheduled(heapq.heappop(self._schedule))
            # A version moved to another time and back is in the heap twice: taken once.
            if allocation is not None:
                found[(allocation.tenant_id, allocation.id)] = allocation
        # By time, then in order of creation (the heap orders equal times by tenant and id).
        return sorted(found.values(), key=_deallocation_order)

    def next_due(self) -> float | None:
        while self._schedule:
            if self._scheduled(self._schedule[0]) is not None:
                return self._schedule[0][0]
            heapq.heappop(self._schedule)
        return None

    def allocations(self, tenant_id: str) -> Iterable[Allocation]:
        return list(self._allocations.get(tenant_id, {}).values())

    def reset(self, tenant_id: str | None = None) -> None:
        if tenant_id is None:
            self._allocations.clear()
            self._refs.clear()
            self._routes.clear()
            self._schedule.clear()
            return
        for allocation in self._allocations.pop(tenant_id, {}).values():
            self._unindex(allocation)
        # Its entries go now rather than one by one as their time comes.
        self._schedule = [entry for entry in self._schedule if entry[1] != tenant_id]
        heapq.heapify(self._schedule)
