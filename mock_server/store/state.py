"""Everything the mock keeps, and the one way to change it: `State.commit(changeset)`.

A commit checks what can be refused (a number or PIN claimed twice), writes the state file when
there is one (one transaction), and only then applies the change to memory, where applying
cannot fail. So a refused or failed commit leaves memory and the file as they were.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from ..domain.allocations import RouteTaken
from ..domain.changes import Changeset, Faults, RuntimeState
from ..domain.ports import CallStore, Store
from .calls import MemoryCallStore
from .deliveries import DeliveryLog
from .lock import StateFileError
from .memory import MemoryStore
from .sqlite import StateFile


class State:
    def __init__(
        self,
        *,
        allocations: Store | None = None,
        calls: CallStore | None = None,
        log: DeliveryLog | None = None,
        file: StateFile | None = None,
    ) -> None:
        self._allocations = allocations or MemoryStore()
        self._calls = calls or MemoryCallStore()
        self._log = log if log is not None else DeliveryLog()
        self.file = file
        self._runtime = RuntimeState()
        self.faults = Faults()
        self._listener: Callable[[Changeset], None] | None = None
        # How many times the state file was opened before (0 without a file).
        self.starts = 0
        if file is not None:
            self._load(file)

    @classmethod
    def open(
        cls, path: str, *, durability: str = "normal", retention: int = 10_000
    ) -> State:
        """The state kept in the file at `path` (created when missing), with at most `retention`
        ended callbacks in its log; `StateFileError` when the file cannot be used."""
        file = StateFile(path, durability=durability)
        try:
            return cls(file=file, log=DeliveryLog(retention))
        except BaseException:
            file.close()
            raise

    def _load(self, file: StateFile) -> None:
        snapshot = file.load()
        for allocation in snapshot.allocations:
            key = (allocation.tenant_id, allocation.id)
            try:
                self._allocations.check({key: allocation})
            except RouteTaken as taken:
                raise StateFileError(
                    f"state file {file.path}: allocations {taken.owner.id} and {allocation.id} "
                    f"both hold {taken.key} on {taken.vn}"
                ) from None
            self._allocations.apply((allocation,))
        self._calls.apply(snapshot.calls)
        self._log.add(snapshot.deliveries, [])
        self._runtime = snapshot.runtime
        file.begin(snapshot.starts)
        self.starts = snapshot.starts
        self._log.on_update = file.update_delivery
        self._log.on_evict = file.drop_deliveries

    @property
    def allocations(self) -> Store:
        return self._allocations

    @property
    def calls(self) -> CallStore:
        return self._calls

    @property
    def log(self) -> DeliveryLog:
        return self._log

    @property
    def runtime(self) -> RuntimeState:
        return self._runtime

    # -- the one way to change it ---------------------------------------------------------------

    def exclusive(self) -> contextlib.AbstractContextManager[None]:
        """Held around a unit of work: what it reads is what it commits on (a store shared by
        processes locks and catches up here; one process's state has nothing to do)."""
        return contextlib.nullcontext()

    def observe(self, listener: Callable[[Changeset], None]) -> None:
        """`listener` is told of each unit another process committed, once it is applied."""
        self._listener = listener

    def commit(self, changes: Changeset) -> None:
        evicted = self._check(changes)
        if self.file is not None:
            self.file.write(changes, evicted)
        self._apply(changes, evicted)

    def _check(self, changes: Changeset) -> list[str]:
        """Raises what refuses the unit; the log entries it will evict."""
        if changes.resets and changes.allocations:
            raise ValueError("a reset is a unit of its own")
        if changes.allocations:
            self._allocations.check(changes.allocations)
        return self._log.evictions(changes.deliveries) if changes.deliveries else []

    def _apply(self, changes: Changeset, evicted: list[str]) -> None:
        # Nothing here can fail: plain changes of dictionaries.
        for tenant_id in changes.resets:
            self._allocations.reset(tenant_id)
            self._calls.reset(tenant_id)
            self._log.clear(tenant_id)
        if changes.allocations:
            self._allocations.apply(changes.allocations.values())
        if changes.calls:
            self._calls.apply(changes.calls.values())
        if changes.deliveries:
            self._log.add(changes.deliveries, evicted)
        if changes.runtime is not None:
            self._runtime = changes.runtime

    def close(self) -> None:
        self._allocations.close()
        if self.file is not None:
            self.file.close()
            self.file = None
