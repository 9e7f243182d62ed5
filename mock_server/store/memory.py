"""The default store: dictionaries and a heap, nothing written to disk."""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from ..domain.allocations import Allocation, RouteTaken, SearchCriteria
from .base import Store


class MemoryStore(Store):
    def __init__(self) -> None:
        self._allocations: dict[str, dict[str, Allocation]] = {}
        # (tenant, kind) -> client reference -> active allocation. Nested rather than keyed by a
        # tuple: a million tuple keys would cost 64 bytes each.
        self._refs: dict[tuple[str, str], dict[str, Allocation]] = {}
        # VN -> number or PIN -> the active allocation it reaches.
        self._routes: dict[str, dict[str, Allocation]] = {}
        # A heap of allocations by deallocation time (a version saved with a new time is pushed
        # again); stale entries are skipped when they come up.
        self._schedule: list[Allocation] = []

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
            if old is None or old.deallocate_at != allocation.deallocate_at or not old.active:
                heapq.heappush(self._schedule, allocation)
        tenant[allocation.id] = allocation

    def _claim_routes(self, allocation: Allocation) -> None:
        """Points every route of the allocation at it, or none when one is another's."""
        claimed: list[tuple[dict[str, Allocation], str]] = []
        for vn, key in allocation.routes():
            by_key = self._routes.get(vn)
            if by_key is None:
                by_key = self._routes[vn] = {}
            # Claimed optimistically and undone on a conflict, which is rare.
            owner = by_key.setdefault(key, allocation)
            if owner is not allocation:
                for undo, undo_key in claimed:
                    del undo[undo_key]
                raise RouteTaken(vn, key, owner)
            claimed.append((by_key, key))

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

    def _live_entry(self, entry: Allocation) -> Allocation | None:
        """The current version of a scheduled allocation, if it is still due at that time."""
        allocation = self.get(entry.tenant_id, entry.id)
        if (
            allocation is None
            or not allocation.active
            or allocation.deallocate_at != entry.deallocate_at
        ):
            return None
        return allocation

    def due(self, now: float) -> list[Allocation]:
        found: dict[tuple[str, str], Allocation] = {}
        while self._schedule and self._schedule[0].deallocate_at <= now:
            allocation = self._live_entry(heapq.heappop(self._schedule))
            # A version moved to another time and back is in the heap twice: taken once.
            if allocation is not None:
                found.setdefault((allocation.tenant_id, allocation.id), allocation)
        return list(found.values())

    def next_due(self) -> float | None:
        while self._schedule:
            if self._live_entry(self._schedule[0]) is not None:
                return self._schedule[0].deallocate_at
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
