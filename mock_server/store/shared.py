"""One mock served by several processes, on any hosts: the state shared through Redis.

Every process keeps the whole state in memory, as one process would (`State`), and Redis holds
the log of every unit of work committed, in order. A unit of work runs under one lock for all
processes (`exclusive`): the process takes the lock, takes up the units others committed since
it last looked, runs the domain on state that is now current, and appends its unit to the log in
the same script that checks it still holds the lock. So every rule holds across processes
exactly as in one (a PIN or number claimed by one request is refused to all others) and each
request is still all or nothing: a unit refused by the domain or by the store is never appended.
Requests that only read catch up first (`refresh`, one round trip).

Callbacks: the process that commits a unit sends its callbacks; while they are pending they are
its own in Redis (`owners`) for as long as it renews its lease (`alive:<process>`). A process
that stops renewing (killed, hung, cut off) loses them: another process claims them and sends
them (`take_orphans`). Attempts and outcomes are appended to the log as well, so every process's
callback log is the same.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

from ..domain.changes import Changeset, RuntimeState, StoreUnavailable
from ..domain.deliveries import PENDING, Delivery
from .calls import MemoryCallStore
from .memory import MemoryStore
from .rows import decode_changeset, decode_delivery, encode_changeset
from .shared_log import (
    CallbackOwners,
    SharedDeliveryLog,
    SharedFaults,
    entries_of,
    reachable,
    stream_id,
    why_unusable,
)
from .shared_scripts import (
    ACQUIRE,
    COMMIT,
    LOAD,
    READ,
    RELEASE,
    SNAPSHOT,
)
from .state import State

logger = logging.getLogger("exomock")

# How long a lock holder that went silent keeps the others waiting (a unit takes well under a
# millisecond), and how long one waits for the lock before answering code 0.
LOCK_MILLISECONDS = 2_000
LOCK_WAIT_SECONDS = 10.0
LEASE_SECONDS = 5.0
# The log is folded into a snapshot of the whole state once it holds this many entries, or as
# many as the state had objects at the last snapshot if more: its length stays within about
# twice the state's, and a snapshot costs O(1) per change on average.
COMPACT_AFTER = 10_000

class RedisState(State):

    def __init__(
        self,
        url: str,
        *,
        retention: int = 10_000,
        lease_seconds: float = LEASE_SECONDS,
        prefix: str = "exomock:",
    ) -> None:
        import redis

        self.url = url
        self.lease_seconds = lease_seconds
        self._client = redis.Redis.from_url(url, socket_timeout=LOCK_WAIT_SECONDS)
        try:
            self._client.ping()
        except (redis.RedisError, ValueError, TypeError) as exc:
            self._client.close()
            raise StoreUnavailable(why_unusable(exc)) from None
        super().__init__(log=SharedDeliveryLog(retention, lambda d: self.owners.still_owns(d)))
        self.process = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._keys = {
            name: prefix + name
            for name in (
                "lock", "seq", "log", "owners", "faults", "starts", "snapshot", "snapshot_at"
            )
        }
        self._read = self._client.register_script(READ)
        self._read_keys = [self._keys[k] for k in ("log", "faults", "snapshot_at", "seq")]
        self._acquire = self._client.register_script(ACQUIRE)
        self._commit = self._client.register_script(COMMIT)
        self._release = self._client.register_script(RELEASE)
        self._snapshot = self._client.register_script(SNAPSHOT)
        self._load_snapshot = self._client.register_script(LOAD)
        self.faults: SharedFaults = SharedFaults(self._client, self._keys["faults"])
        # Where this process has read the log to, and the last unit it has applied.
        self._position = "-"
        self._applied = 0
        self._token: str | None = None
        self.compact_after = COMPACT_AFTER
        # For requests' catching up (`catch_up`), made in the server's event loop.
        self._async_client: Any = None
        self._async_read: Any = None
        # Seeded ids differ from process to process (`IdSource` streams).
        self.starts = int(self._client.incr(self._keys["starts"])) - 1
        self.owners = CallbackOwners(
            self._client, self.process, lease_seconds,
            owners=self._keys["owners"], log=self._keys["log"], alive_prefix=prefix + "alive:",
        )
        self.owners.renew()
        self._log.on_update = self.owners.record_attempt
        self.refresh()

    # -- catching up ----------------------------------------------------------------------------

    def refresh(self) -> None:
        """Takes up what other processes committed since the last look."""
        with reachable("catching up"):
            read = self._read(keys=self._read_keys, args=[self._after()])
        self._take_up_read(read)

    async def catch_up(self) -> None:
        """`refresh` for a request: the process serves others while Redis answers. What a unit
        took up in the meantime (it read later) wins; this read is then dropped."""
        if self._async_client is None:
            import redis.asyncio

            self._async_client = redis.asyncio.Redis.from_url(
                self.url, socket_timeout=LOCK_WAIT_SECONDS
            )
            self._async_read = self._async_client.register_script(READ)
        before = (self._position, self._applied)
        with reachable("catching up"):
            read = await self._async_read(keys=self._read_keys, args=[self._after()])
        if (self._position, self._applied) == before:
            self._take_up_read(read)

    def _take_up_read(self, read: list[Any]) -> None:
        """Takes up what the READ script answered: the log after this process's position, the
        fault count, where the snapshot stands, how many units there are."""
        entries, faults, snapshot_at, seq = read
        self.faults.seen = int(faults or 0)
        self._take_up(entries_of(entries), snapshot_at, int(seq or 0))

    async def close_async(self) -> None:
        if self._async_client is not None:
            with contextlib.suppress(Exception):
                await self._async_client.aclose()
            self._async_client = None

    def _after(self) -> str:
        return "-" if self._position == "-" else "(" + self._position

    def _take_up(
        self, entries: list[tuple[bytes, dict[bytes, bytes]]], snapshot_at: bytes | None,
        seq: int,
    ) -> None:
        """Applies the log's entries after this process's position, in order; first the
        snapshot, when the log was folded into one past this position. A log that does not
        follow on from what this process applied (Redis lost data) is taken up from the start."""
        entries = self._after_snapshot(entries, snapshot_at)
        if seq < self._applied or not self._follows_on(entries):
            entries, snapshot_at = self._start_over(seq)
            entries = self._after_snapshot(entries, snapshot_at)
        for entry_id, fields in entries:
            self._position = entry_id.decode()
            if fields[b"k"] == b"c":
                unit = int(fields[b"s"])
                if unit <= self._applied:
                    continue  # this process's own unit, applied when it committed it
                changes = decode_changeset(fields[b"d"])
                self._applied = unit
                self._apply(changes, self._log.evictions(changes.deliveries))
                if self._listener is not None:
                    self._listener(changes)
            elif fields[b"o"].decode() != self.process:
                self._log.replace(decode_delivery(fields[b"d"].decode()))

    def _after_snapshot(
        self, entries: list[tuple[bytes, dict[bytes, bytes]]], snapshot_at: bytes | None
    ) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """Loads the snapshot when the log was folded past this process's position; the
        entries that come after where it now stands."""
        if snapshot_at is None:
            return entries
        position = snapshot_at.split()[0].decode()
        if stream_id(position) <= stream_id(self._position):
            return entries
        self._reload()
        here = stream_id(self._position)
        return [e for e in entries if stream_id(e[0].decode()) > here]

    def _follows_on(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> bool:
        """Whether the units in `entries` continue what this process applied: each one either
        its own (already applied), or the next in turn, or a reset of everything (which needs
        nothing before it). A unit numbered as one already applied but made by another process,
        or a gap, means Redis' log is no longer the one this process followed."""
        expected = self._applied
        for _, fields in entries:
            if fields[b"k"] != b"c":
                continue
            unit = int(fields[b"s"])
            if unit <= expected:
                if fields[b"o"].decode() != self.process:
                    return False
            elif unit == expected + 1 or fields.get(b"r") == b"1":
                expected = unit
            else:
                return False
        return True

    # -- units of work --------------------------------------------------------------------------

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        token = uuid.uuid4().hex
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        pause = 0.0001
        while True:
            with reachable("locking"):
                got, *read = self._acquire(
                    keys=[self._keys[k] for k in ("lock", "log", "snapshot_at", "seq")],
                    args=[token, LOCK_MILLISECONDS, self._after()],
                )
            if got:
                break
            if time.monotonic() > deadline:
                raise StoreUnavailable("the shared state stayed locked by another process")
            # Units hold the lock for well under a millisecond: short, jittered waits (this
            # process serves nothing meanwhile either way).
            time.sleep(pause * random.uniform(0.5, 1.5))
            pause = min(pause * 2, 0.001)
        self._token = token
        try:
            entries, snapshot_at, seq, length = read
            self._take_up(entries_of(entries), snapshot_at, int(seq or 0))
            if length >= self._compaction_due(snapshot_at):
                self._fold(token)
            yield
        finally:
            if self._token is not None:  # not released by a commit
                self._token = None
                # Unreleased, it expires after LOCK_MILLISECONDS.
                with contextlib.suppress(Exception):
                    self._release(keys=[self._keys["lock"]], args=[token])

    def commit(self, changes: Changeset) -> None:
        if self._token is None:
            raise RuntimeError("a unit of work committed outside `exclusive`, or a second one")
        evicted = self._check(changes)
        owned = [d.id for d in changes.deliveries if d.outcome == PENDING and d.url]
        forgotten = self._forgotten(changes.resets)
        with reachable("committing"):
            ok, detail = self._commit(
                keys=[
                    self._keys[k]
                    for k in ("lock", "seq", "log", "owners", "snapshot", "snapshot_at")
                ],
                args=[
                    self._token,
                    self._applied,
                    self.process,
                    encode_changeset(changes),
                    1 if None in changes.resets else 0,
                    len(owned),
                    *owned,
                    *forgotten,
                ],
            )
        if not ok:
            raise StoreUnavailable(f"the unit was not committed: {detail.decode()}")
        self._token = None  # the commit released the lock
        self._applied += 1
        self._apply(changes, evicted)

    # -- folding the log into a snapshot ---------------------------------------------------------

    def _compaction_due(self, snapshot_at: bytes | None) -> int:
        """The log length at which it is folded next."""
        threshold = int(snapshot_at.split()[2]) if snapshot_at is not None else 0
        return max(self.compact_after, threshold)

    def _fold(self, token: str) -> None:
        """Writes the whole state, as of this process's position, as the snapshot, and drops the
        log before it (the lock is held: the state is current)."""
        snapshot = Changeset(now=0.0, resets=[None], runtime=self._runtime)
        allocations = self._allocations
        calls = self._calls
        assert isinstance(allocations, MemoryStore)
        assert isinstance(calls, MemoryCallStore)
        for allocation in allocations.every_allocation():
            snapshot.put(allocation)
        for call in calls.every_call():
            snapshot.put_call(call)
        snapshot.deliveries = self._log.every_delivery()
        size = len(snapshot.allocations) + len(snapshot.calls) + len(snapshot.deliveries)
        with reachable("folding the log"):
            self._snapshot(
                keys=[self._keys[k] for k in ("lock", "snapshot", "snapshot_at", "log")],
                args=[token, encode_changeset(snapshot),
                      f"{self._position} {self._applied} {size}"],
            )
        logger.info("folded the shared log into a snapshot of %d objects", size)

    def _start_over(
        self, seq: int
    ) -> tuple[list[tuple[bytes, dict[bytes, bytes]]], bytes | None]:
        """Redis' log no longer follows on from what this process applied: it lost units
        (restarted without persistence, or with the last second of its append-only file lost),
        whether or not others have committed more since. Redis is the truth: this process
        forgets its state and takes up Redis' from the start."""
        logger.warning(
            "the shared store's log (%d units) does not follow on from the %d this process "
            "applied: it lost data (restarted?); starting over from what it holds",
            seq, self._applied,
        )
        lost = Changeset(now=0.0, resets=[None], runtime=RuntimeState())
        self._apply(lost, [])
        self._position = "-"
        self._applied = 0
        if self._listener is not None:
            self._listener(lost)
        with reachable("catching up"):
            entries, _, snapshot_at, _ = self._read(keys=self._read_keys, args=["-"])
        return entries_of(entries), snapshot_at

    def _reload(self) -> None:
        """Replaces this process's state by the snapshot (it lagged behind a fold)."""
        with reachable("reading the snapshot"):
            data, snapshot_at = self._load_snapshot(
                keys=[self._keys["snapshot"], self._keys["snapshot_at"]]
            )
        if data is None or snapshot_at is None:
            return  # dropped by a reset of everything since: the log alone is the state
        position, seq, _ = snapshot_at.decode().split()
        snapshot = decode_changeset(data)
        self._apply(snapshot, [])
        self._position = position
        self._applied = int(seq)
        if self._listener is not None:
            # The clock's offset counts; the reset is the reload's, not the users'.
            self._listener(Changeset(now=snapshot.now, runtime=snapshot.runtime))

    def _forgotten(self, resets: list[str | None]) -> list[str]:
        """The pending deliveries that resets of single tenants forget."""
        return [
            d.id
            for tenant_id in resets
            if tenant_id is not None
            for d in self._log.find(tenant_id=tenant_id, outcome=PENDING)
        ]

    # -- callbacks ------------------------------------------------------------------------------

    def take_orphans(self) -> list[Delivery]:
        """Renews this process's lease; the pending callbacks of processes whose lease ran out
        (at this look and the one before), now this one's to send."""
        claimed = self.owners.claim_orphans()
        if not claimed:
            return []
        self.refresh()
        taken: list[Delivery] = []
        gone: list[str] = []
        for delivery_id in claimed:
            delivery = self._log.get(delivery_id)
            if delivery is not None and delivery.outcome == PENDING:
                taken.append(delivery)
            else:  # forgotten by a reset, or ended in the meantime
                gone.append(delivery_id)
        self.owners.disown(gone)
        return taken

    def close(self) -> None:
        self.owners.leave()
        self._client.close()
        super().close()
