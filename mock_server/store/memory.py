"""The default store: dictionaries and a heap, nothing written to disk."""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from ..domain.allocations import Allocation, Party, RouteTaken, SearchCriteria
from .base import Store


class MemoryStore(Store):
    def __init__(self) -> None:
        self._allocations: dict[str, dict[str, Allocation]] = {}
        # (tenant, kind) -> client reference -> active allocation. Nested rather than keyed by a
        # tuple: a million tuple keys would cost 64 bytes each.
        self._refs: dict[tuple[str, str], dict[str, Allocation]] = {}
        self._routes: dict[str, dict[str, Party]] = {}
        # (deallocation time, tenant, id); stale entries are skipped when they come up.
        self._schedule: list[tuple[float, str, str]] = []

    def get(self, tenant_id: str, allocation_id: str) -> Allocation | None:
        return self._allocations.get(tenant_id, {}).get(allocation_id)

    def active_by_ref(self, tenant_id: str, kind: str, ref: str) -> Allocation | None:
        refs = self._refs.get((tenant_id, kind))
        return refs.get(ref) if refs else None

    def route(self, vn: str, key: str) -> Party | None:
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
                heapq.heappush(
                    self._schedule,
                    (allocation.deallocate_at, allocation.tenant_id, allocation.id),
                )
        tenant[allocation.id] = allocation
        if old is not None and old is not allocation:
            old.detach()

    def _claim_routes(self, allocation: Allocation) -> None:
        """Points every route of the allocation at it, or none when one is another's."""
        claimed: list[tuple[dict[str, Party], str]] = []
        for vn, key, party in allocation.routes():
            by_key = self._routes.get(vn)
            if by_key is None:
                by_key = self._routes[vn] = {}
            # Claimed optimistically and undone on a conflict, which is rare.
            owner = by_key.setdefault(key, party)
            if owner is not party:
                for undo, undo_key in claimed:
                    del undo[undo_key]
                raise RouteTaken(vn, key, owner.allocation)
            claimed.append((by_key, key))

    def _index(self, allocation: Allocation) -> None:
        if not allocation.active:
            return
        for vn, key, party in allocation.routes():
            self._routes.setdefault(vn, {})[key] = party
        refs = self._refs.setdefault((allocation.tenant_id, allocation.kind), {})
        refs[allocation.ref] = allocation

    def _unindex(self, allocation: Allocation) -> None:
        for vn, key, party in allocation.routes():
            routes = self._routes.get(vn)
            if routes is not None and routes.get(key) is party:
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

    def _live_entry(self, entry: tuple[float, str, str]) -> Allocation | None:
        when, tenant_id, allocation_id = entry
        allocation = self.get(tenant_id, allocation_id)
        if allocation is None or not allocation.active or allocation.deallocate_at != when:
            return None
        return allocation

    def due(self, now: float) -> list[Allocation]:
        found = []
        while self._schedule and self._schedule[0][0] <= now:
            allocation = self._live_entry(heapq.heappop(self._schedule))
            if allocation is not None:
                found.append(allocation)
        return found

    def next_due(self) -> float | None:
        while self._schedule:
            if self._live_entry(self._schedule[0]) is not None:
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
