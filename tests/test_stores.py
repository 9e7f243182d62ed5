"""One test suite for every store; the one kept in a state file must also survive a reopen."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mock_server.domain.allocations import GREENPIN, Allocation, RouteTaken, SearchCriteria
from mock_server.domain.changes import Changeset
from mock_server.store.base import Store
from mock_server.store.memory import MemoryStore
from mock_server.store.state import State


class FileBackedStore:
    """The allocations of a state kept in a file: reads from its store, writes committed."""

    def __init__(self, path: Path) -> None:
        self.state = State.open(str(path))

    def __getattr__(self, name: str) -> object:
        return getattr(self.state.allocations, name)

    def save(self, allocation: Allocation) -> None:
        changes = Changeset(now=0.0)
        changes.put(allocation)
        self.state.commit(changes)

    def reset(self, tenant_id: str | None = None) -> None:
        self.state.commit(Changeset(now=0.0, resets=[tenant_id]))

    def close(self) -> None:
        self.state.close()


def make_allocation(allocation_id: str, number: str, pin: str, *, due: float = 100.0,
                    tenant: str = "demo") -> Allocation:
    return Allocation(
        kind=GREENPIN, tenant_id=tenant, id=allocation_id, ref=f"ref-{allocation_id}",
        a_numbers=(number,), a_vns=("+916292134464",), a_pins=(pin,),
        b_numbers=("+91970" + number[-7:],), b_vns=("+916292134464",), b_pins=(),
        usage="twoway", state="active", created_at=float(len(allocation_id)), deallocate_at=due,
    )


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Any = MemoryStore() if request.param == "memory" else FileBackedStore(tmp_path / "s.db")
    yield made
    made.close()


def test_save_get_and_routes(store):
    first = make_allocation("a1", "+919811111111", "1234")
    store.save(first)
    assert store.get("demo", "a1").ref == "ref-a1"
    assert store.get("other", "a1") is None
    assert store.route("+916292134464", "1234").id == "a1"
    reached = store.route("+916292134464", "+919811111111")
    assert reached.party_reached("+916292134464", "+919811111111").name == "a"
    assert store.route("+916292134465", "1234") is None
    assert store.active_by_ref("demo", GREENPIN, "ref-a1").id == "a1"


def test_a_route_cannot_be_claimed_twice(store):
    store.save(make_allocation("a1", "+919811111111", "1234"))
    with pytest.raises(RouteTaken):
        store.save(make_allocation("a2", "+919822222222", "1234"))
    assert store.get("demo", "a2") is None
    assert store.route("+916292134464", "+919822222222") is None


def test_a_refused_update_keeps_the_previous_routes(store):
    store.save(make_allocation("a1", "+919811111111", "1234"))
    store.save(make_allocation("a2", "+919822222222", "5678"))
    updated = store.get("demo", "a2").copy()
    updated.a_numbers = ("+919833333333",)
    updated.a_pins = ("1234",)
    with pytest.raises(RouteTaken):
        store.save(updated)
    assert store.get("demo", "a2").a_pins == ("5678",)
    assert store.route("+916292134464", "5678").id == "a2"
    assert store.route("+916292134464", "+919822222222").id == "a2"
    assert store.route("+916292134464", "+919833333333") is None
    assert store.route("+916292134464", "1234").id == "a1"


def test_an_allocation_moved_and_moved_back_is_due_once(store):
    store.save(make_allocation("a1", "+919811111111", "1234", due=50))
    later = store.get("demo", "a1").copy()
    later.deallocate_at = 60.0
    store.save(later)
    back = store.get("demo", "a1").copy()
    back.deallocate_at = 50.0
    store.save(back)
    assert [a.id for a in store.due(100)] == ["a1"]


def _allocations_in_memory(tenant: str | None = None) -> int:
    """Allocation objects alive, frozen ones included (a served app freezes the long-lived
    objects, see `mock_server.gc_tuning`, and `gc.get_objects` leaves those out)."""
    # What earlier tests left in cycles is not alive. Collected before looking at what is frozen:
    # an app served in this process freezes the survivors of a full collection.
    gc.collect()
    frozen = gc.get_freeze_count()
    gc.unfreeze()
    try:
        return sum(
            1 for o in gc.get_objects()
            if isinstance(o, Allocation) and (tenant is None or o.tenant_id == tenant)
        )
    finally:
        if frozen:
            gc.freeze()


def test_replaced_versions_do_not_stay_in_memory(store):
    before = _allocations_in_memory()
    count = 1500
    for i in range(count):
        store.save(make_allocation(f"a{i}", f"+9198{i:08d}", f"{i:04d}", due=1000.0 + i))
    for round_ in range(1, 5):  # updates, each moving the deallocation time
        for i in range(count):
            updated = store.get("demo", f"a{i}").copy()
            updated.deallocate_at = 1000.0 + i + round_
            store.save(updated)
    # Only the stored versions are left: the schedule does not hold the 6,000 replaced ones.
    assert _allocations_in_memory() - before == count
    due = store.due(10_000.0)
    assert len(due) == count
    assert [a.id for a in due[:3]] == ["a0", "a1", "a2"]
    # `due` only looks: they stay due until their deallocation is kept.
    assert store.next_due() == 1004.0
    for allocation in due:
        ended = allocation.copy()
        ended.state = "vault"
        store.save(ended)
    assert store.next_due() is None


def test_a_reset_tenant_leaves_nothing_in_memory(store):
    before = _allocations_in_memory("demo")
    for i in range(200):
        store.save(make_allocation(f"a{i}", f"+9198{i:08d}", f"{i:04d}"))
    store.save(make_allocation("b1", "+919833333333", "9999", tenant="other"))
    store.reset("demo")
    assert _allocations_in_memory("demo") == before
    assert [a.id for a in store.due(1000.0)] == ["b1"]


def test_allocations_due_at_one_time_come_in_order_of_creation(store):
    order = [5, 2, 9, 0, 7, 1, 8, 3, 6, 4]
    for i in order:
        allocation = make_allocation(f"id-{9 - i}", f"+9198{i:08d}", f"{i:04d}", due=500.0)
        allocation.created_at = float(i)
        store.save(allocation)
    assert [a.created_at for a in store.due(500.0)] == [float(i) for i in range(10)]


def test_an_active_allocation_is_not_changed_in_place(store):
    store.save(make_allocation("a1", "+919811111111", "1234"))
    stored = store.get("demo", "a1")
    stored.a_pins = ("4321",)
    with pytest.raises(ValueError, match="copy"):
        store.save(stored)


def test_deallocation_frees_routes_and_schedule(store):
    allocation = make_allocation("a1", "+919811111111", "1234", due=50)
    store.save(allocation)
    assert store.next_due() == 50
    assert store.due(49) == []
    [due] = store.due(50)
    ended = due.copy()
    ended.state = "vault"
    store.save(ended)
    assert store.route("+916292134464", "1234") is None
    assert store.active_by_ref("demo", GREENPIN, "ref-a1") is None
    assert store.next_due() is None
    total, found = store.search("demo", GREENPIN, SearchCriteria(state="vault"), 0, 10)
    assert total == 1
    assert found[0].id == "a1"


def test_reset_one_tenant(store):
    store.save(make_allocation("a1", "+919811111111", "1234"))
    store.save(make_allocation("b1", "+919833333333", "9999", tenant="other"))
    store.reset("demo")
    assert store.get("demo", "a1") is None
    assert store.get("other", "b1") is not None
    assert store.route("+916292134464", "1234") is None


def test_sqlite_state_survives_a_reopen(tmp_path):
    path = tmp_path / "state.db"
    store = FileBackedStore(path)
    store.save(make_allocation("a1", "+919811111111", "1234", due=50))
    kept = make_allocation("a2", "+919822222222", "5678", due=500)
    store.save(kept)
    gone = store.get("demo", "a1").copy()
    gone.state = "vault"
    store.save(gone)
    store.close()

    reopened = FileBackedStore(path)
    assert reopened.get("demo", "a1").state == "vault"
    assert reopened.route("+916292134464", "1234") is None
    assert reopened.route("+916292134464", "5678").id == "a2"
    assert reopened.next_due() == 500
    assert [a.id for a in reopened.allocations("demo")] == ["a1", "a2"]
    reopened.close()
