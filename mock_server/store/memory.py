"""The default store: dictionaries and a heap, nothing written to disk."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping

from ..domain.allocations import Allocation, RouteTaken, SearchCriteria
from ..domain.ports import Store


def _deallocation_order(allocation: Allocation) -> tuple[float, float, str]:
    return allocation.deallocate_at, allocation.created_at, allocation.id


def _creation_order(allocation: Allocation) -> tuple[float, str]:
    return allocation.created_at, allocation.id


class MemoryStore(Store):
    def __init__(self) -> None:
        self._allocations: dict[str, dict[str, Allocation]] = {}
        # (tenant, kind) -> client reference -> active allocation. Nested rather than keyed by a
        # tuple: a million tuple keys would cost 64 bytes each.
        self._refs: dict[tuple[str, str], dict[str, Allocation]] = {}
        # VN -> number or PIN -> the active allocation it reaches.
        self._routes: dict[str, dict[str, Allocation]] = {}
        # VN -> number -> the active oneway allocations whose B party holds it, by (tenant, id).
        self._oneway: dict[str, dict[str, dict[tuple[str, str], Allocation]]] = {}
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

    def oneway_destination(self, vn: str, number: str) -> Allocation | None:
        holders = self._oneway.get(vn, {}).get(number)
        # By creation, not by when each was indexed, which a restart or an update reorders.
        return max(holders.values(), key=_creation_order) if holders else None

    # -- writes: check everything, then apply what cannot fail ----------------------------------

    def check(self, versions: Mapping[tuple[str, str], Allocation]) -> None:
        if len(versions) == 1:
            # The common case (one create or update): no claims of other versions to compare.
            for version in versions.values():
                self._check_one(version, versions)
            return
        claimed: dict[tuple[str, str], Allocation] = {}
        for version in versions.values():
            self._check_one(version, versions)
            if version.active:
                for route in version.routes():
                    other = claimed.setdefault(route, version)
                    if other is not version:
                        raise RouteTaken(route[0], route[1], other)

    def _check_one(
        self, version: Allocation, versions: Mapping[tuple[str, str], Allocation]
    ) -> None:
        stored = self.get(version.tenant_id, version.id)
        if stored is version:
            # Its routes and time may have changed with no way to tell what they were.
            raise ValueError("a stored allocation is changed by saving a changed copy of it")
        if not version.active:
            return
        for vn, key in version.routes():
            owner = self.route(vn, key)
            if owner is None or (owner.tenant_id == version.tenant_id and owner.id == version.id):
                continue
            replacement = versions.get((owner.tenant_id, owner.id))
            if replacement is None or (
                replacement.active and (vn, key) in replacement.routes()
            ):
                raise RouteTaken(vn, key, owner)

    def apply(self, versions: Iterable[Allocation]) -> None:
        versions = list(versions)
        # Every old version leaves the indexes first, so that a route one version gives up and
        # another takes in the same unit ends up with the one that takes it.
        olds = [self.get(v.tenant_id, v.id) for v in versions]
        for old in olds:
            if old is not None:
                self._unindex(old)
        for version, old in zip(versions, olds, strict=True):
            tenant = self._allocations.get(version.tenant_id)
            if tenant is None:
                tenant = self._allocations[version.tenant_id] = {}
            tenant[version.id] = version
            if version.active:
                self._index(version)
                if old is None or not old.active or old.deallocate_at != version.deallocate_at:
                    heapq.heappush(
                        self._schedule, (version.deallocate_at, version.tenant_id, version.id)
                    )

    def _index(self, allocation: Allocation) -> None:
        for vn, key in allocation.routes():
            by_key = self._routes.get(vn)
            if by_key is None:
                by_key = self._routes[vn] = {}
            by_key[key] = allocation
        for vn, number in allocation.oneway_destinations():
            holders = self._oneway.setdefault(vn, {}).setdefault(number, {})
            holders[(allocation.tenant_id, allocation.id)] = allocation
        refs = self._refs.get((allocation.tenant_id, allocation.kind))
        if refs is None:
            refs = self._refs[(allocation.tenant_id, allocation.kind)] = {}
        refs[allocation.ref] = allocation

    def _unindex(self, allocation: Allocation) -> None:
        if not allocation.active:
            return
        for vn, key in allocation.routes():
            routes = self._routes.get(vn)
            if routes is not None and routes.get(key) is allocation:
                del routes[key]
        held_by = (allocation.tenant_id, allocation.id)
        for vn, number in allocation.oneway_destinations():
            holders = self._oneway.get(vn, {}).get(number)
            if holders is not None and holders.get(held_by) is allocation:
                del holders[held_by]
                if not holders:
                    del self._oneway[vn][number]
        refs = self._refs.get((allocation.tenant_id, allocation.kind))
        if refs is not None and refs.get(allocation.ref) is allocation:
            del refs[allocation.ref]

    # -- reads ----------------------------------------------------------------------------------

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
        kept: list[tuple[float, str, str]] = []
        while self._schedule and self._schedule[0][0] <= now:
            entry = heapq.heappop(self._schedule)
            allocation = self._scheduled(entry)
            # Stale entries go for good; live ones go back, since the deallocation may not be
            # committed. A version moved to another time and back is in the heap twice: once.
            if allocation is not None and (allocation.tenant_id, allocation.id) not in found:
                found[(allocation.tenant_id, allocation.id)] = allocation
                kept.append(entry)
        for entry in kept:
            heapq.heappush(self._schedule, entry)
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

    def every_allocation(self) -> list[Allocation]:
        """Every allocation of every tenant, each tenant's oldest first."""
        return [a for tenant in self._allocations.values() for a in tenant.values()]

    def reset(self, tenant_id: str | None = None) -> None:
        if tenant_id is None:
            self._allocations.clear()
            self._refs.clear()
            self._routes.clear()
            self._oneway.clear()
            self._schedule.clear()
            return
        for allocation in self._allocations.pop(tenant_id, {}).values():
            self._unindex(allocation)
        # Its entries go now rather than one by one as their time comes.
        self._schedule = [entry for entry in self._schedule if entry[1] != tenant_id]
        heapq.heapify(self._schedule)
