"""The default store: dictionaries and a heap, nothing written to disk."""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from ..domain.allocations import Allocation, RouteTaken, SearchCriteria
from .base import Store

# The schedule is compacted once more than this many of its entries, and half of them, are
# skipped ones (replaced versions, ended allocations).
MIN_COMPACTION = 1024


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
        # A heap of allocations by deallocation time. Every new version of an active allocation
        # is pushed; an entry that is no longer the stored version, or no longer active, is
        # skipped when it comes up, and the heap is compacted when such entries pile up.
        self._schedule: list[Allocation] = []
        self._stale = 0  # about how many entries are skipped ones

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
            heapq.heappush(self._schedule, allocation)
        if old is not None and (old is allocation or old.active):
            self._stale += 1  # its schedule entry is no longer the stored active version
        tenant[allocation.id] = allocation
        if self._stale > MIN_COMPACTION and 2 * self._stale > len(self._schedule):
            self._compact_schedule()

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

    def _scheduled(self, entry: Allocation) -> bool:
        """Whether a schedule entry is the stored version of an active allocation."""
        return entry.active and self.get(entry.tenant_id, entry.id) is entry

    def _compact_schedule(self) -> None:
        """Drops the skipped entries, which would otherwise keep replaced versions in memory
        until their time; done once they are half the heap, so its cost is spread over them."""
        self._schedule = [entry for entry in self._schedule if self._scheduled(entry)]
        heapq.heapify(self._schedule)
        self._stale = 0

    def due(self, now: float) -> list[Allocation]:
        found: dict[int, Allocation] = {}
        while self._schedule and self._schedule[0].deallocate_at <= now:
            entry = heapq.heappop(self._schedule)
            if self._scheduled(entry):
                found[id(entry)] = entry
            else:
                self._stale = max(self._stale - 1, 0)
        # The heap does not keep the order of equal times: by time, then creation.
        return sorted(found.values(), key=_deallocation_order)

    def next_due(self) -> float | None:
        while self._schedule:
            if self._scheduled(self._schedule[0]):
                return self._schedule[0].deallocate_at
            heapq.heappop(self._schedule)
            self._stale = max(self._stale - 1, 0)
        return None

    def allocations(self, tenant_id: str) -> Iterable[Allocation]:
        return list(self._allocations.get(tenant_id, {}).values())

    def reset(self, tenant_id: str | None = None) -> None:
        if tenant_id is None:
            self._allocations.clear()
            self._refs.clear()
            self._routes.clear()
            self._schedule.clear()
            self._stale = 0
            return
        for allocation in self._allocations.pop(tenant_id, {}).values():
            self._unindex(allocation)
        # The heap holds allocations, not ids: the tenant's go now, not when their time comes.
        self._schedule = [entry for entry in self._schedule if entry.tenant_id != tenant_id]
        heapq.heapify(self._schedule)
