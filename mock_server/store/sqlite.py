"""A store that survives restarts: every save is written to SQLite before it returns.

Reads are served from the in-memory indexes of `MemoryStore`, rebuilt from the file on start, so
lookups cost the same as without a file; writes are one row upsert and a commit each. With WAL and
`synchronous=NORMAL`, a committed write survives the process being killed (a power cut may lose
the last transactions; `synchronous=FULL` via `durability="full"` closes that gap at a cost).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..domain.allocations import Allocation, Party, SearchCriteria
from .base import Store
from .memory import MemoryStore

SCHEMA_VERSION = 1


def _party_row(party: Party) -> dict[str, Any]:
    return {
        "numbers": party.numbers,
        "vns": party.vns,
        "pins": party.pins,
        # Read by versions that stored it; this one derives it from the PINs.
        "pin_length": party.pin_length,
    }


def _encode(allocation: Allocation) -> str:
    return json.dumps(
        {
            "kind": allocation.kind,
            "ref": allocation.ref,
            "a": _party_row(allocation.a),
            "b": _party_row(allocation.b),
            "usage": allocation.usage,
            "state": allocation.state,
            "created_at": allocation.created_at,
            "deallocate_at": allocation.deallocate_at,
            "deallocated_at": allocation.deallocated_at,
            "flow_id": allocation.flow_id,
        },
        separators=(",", ":"),
    )


def _decode(tenant_id: str, allocation_id: str, text: str) -> Allocation:
    raw = json.loads(text)
    return Allocation(
        kind=raw["kind"],
        tenant_id=tenant_id,
        id=allocation_id,
        ref=raw["ref"],
        a_numbers=tuple(raw["a"]["numbers"]),
        a_vns=tuple(raw["a"]["vns"]),
        a_pins=tuple(raw["a"]["pins"]),
        b_numbers=tuple(raw["b"]["numbers"]),
        b_vns=tuple(raw["b"]["vns"]),
        b_pins=tuple(raw["b"]["pins"]),
        usage=raw["usage"],
        state=raw["state"],
        created_at=raw["created_at"],
        deallocate_at=raw["deallocate_at"],
        deallocated_at=raw["deallocated_at"],
        flow_id=raw["flow_id"],
    )


def open_state_file(path: str | Path, durability: str = "normal") -> sqlite3.Connection:
    """A connection to the state file in autocommit mode: every statement is committed before
    it returns, and with WAL survives the process being killed."""
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
    return db


class SqliteStore(Store):
    def __init__(self, path: str | Path, *, durability: str = "normal") -> None:
        self.path = Path(path)
        self._db = open_state_file(self.path, durability)
        self._lock = threading.Lock()
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS allocations ("
            " tenant_id TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,"
            " PRIMARY KEY (tenant_id, id))"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self._db.execute(
            "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
        self._memory = MemoryStore()
        self._seq = 0
        for tenant_id, allocation_id, seq, body in self._db.execute(
            "SELECT tenant_id, id, seq, body FROM allocations ORDER BY seq"
        ):
            self._memory.save(_decode(tenant_id, allocation_id, body))
            self._seq = max(self._seq, seq)

    # -- reads: from memory ---------------------------------------------------------------------

    def get(self, tenant_id: str, allocation_id: str) -> Allocation | None:
        return self._memory.get(tenant_id, allocation_id)

    def active_by_ref(self, tenant_id: str, kind: str, ref: str) -> Allocation | None:
        return self._memory.active_by_ref(tenant_id, kind, ref)

    def route(self, vn: str, key: str) -> Allocation | None:
        return self._memory.route(vn, key)

    def has_routes(self, vn: str) -> bool:
        return self._memory.has_routes(vn)

    def search(
        self, tenant_id: str, kind: str, criteria: SearchCriteria, offset: int, limit: int
    ) -> tuple[int, list[Allocation]]:
        return self._memory.search(tenant_id, kind, criteria, offset, limit)

    def due(self, now: float) -> list[Allocation]:
        return self._memory.due(now)

    def next_due(self) -> float | None:
        return self._memory.next_due()

    def allocations(self, tenant_id: str) -> Iterable[Allocation]:
        return self._memory.allocations(tenant_id)

    # -- writes: to the file first --------------------------------------------------------------

    def save(self, allocation: Allocation) -> None:
        existing = self._memory.get(allocation.tenant_id, allocation.id)
        # Check the routes in memory first, so that a refused save writes nothing.
        self._memory.save(allocation)
        with self._lock:
            if existing is None:
                self._seq += 1
                seq = self._seq
            else:
                row = self._db.execute(
                    "SELECT seq FROM allocations WHERE tenant_id=? AND id=?",
                    (allocation.tenant_id, allocation.id),
                ).fetchone()
                seq = row[0] if row else self._next_seq()
            self._db.execute(
                "INSERT OR REPLACE INTO allocations VALUES (?, ?, ?, ?)",
                (allocation.tenant_id, allocation.id, seq, _encode(allocation)),
            )

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def reset(self, tenant_id: str | None = None) -> None:
        with self._lock:
            if tenant_id is None:
                self._db.execute("DELETE FROM allocations")
            else:
                self._db.execute("DELETE FROM allocations WHERE tenant_id=?", (tenant_id,))
        self._memory.reset(tenant_id)

    def close(self) -> None:
        with self._lock:
            self._db.close()
