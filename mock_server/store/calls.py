"""Where calls are kept: a small interface, and the in-memory implementation.

Calls are kept apart from allocations (`store/base.py`): they have their own lifecycle and their
own indexes (the calls whose next step is due, the state-managed users that are busy). `save` is
the only write and the indexes follow the call saved, so a SQLite version can replace this one
without the domain noticing.
"""

from __future__ import annotations

import pickle
from abc import ABC, abstractmethod
from pathlib import Path

from ..domain.calls import CallRecord
from .sqlite import open_state_file


class CallStore(ABC):
    @abstractmethod
    def get(self, sid: str) -> CallRecord | None:
        """The call with this SID, of any account (SIDs are unique across accounts)."""

    @abstractmethod
    def save(self, call: CallRecord) -> None:
        """Inserts or replaces the call; its indexes are those of its new state."""

    @abstractmethod
    def due(self, now: float) -> list[CallRecord]:
        """Active calls whose next step is due at `now`, earliest step first."""

    @abstractmethod
    def busy_call(self, tenant_id: str, number: str) -> CallRecord | None:
        """The active state-managed call that makes this user busy: a click-to-call from the
        number, or an incoming call connected to it (`CallRecord.managed_number`)."""

    @abstractmethod
    def calls(self, tenant_id: str) -> list[CallRecord]:
        """Every call of the account, oldest first."""

    @abstractmethod
    def reset(self, tenant_id: str | None = None) -> None:
        """Forgets an account's calls, or everyone's."""

    def close(self) -> None:  # noqa: B027 - a store without resources has nothing to close
        """Releases what the store holds open; nothing by default."""


class MemoryCallStore(CallStore):
    def __init__(self) -> None:
        self._calls: dict[str, CallRecord] = {}
        self._active: dict[str, CallRecord] = {}
        self._busy: dict[tuple[str, str], str] = {}

    def get(self, sid: str) -> CallRecord | None:
        return self._calls.get(sid)

    def save(self, call: CallRecord) -> None:
        self._calls[call.sid] = call
        managed = call.managed_number
        key = (call.tenant_id, managed or "")
        if call.active:
            self._active[call.sid] = call
            if managed is not None:
                self._busy[key] = call.sid
        else:
            self._active.pop(call.sid, None)
            if self._busy.get(key) == call.sid:
                del self._busy[key]

    def due(self, now: float) -> list[CallRecord]:
        found = [c for c in self._active.values() if c.next_at is not None and c.next_at <= now]
        return sorted(found, key=lambda c: (c.next_at, c.seq))

    def busy_call(self, tenant_id: str, number: str) -> CallRecord | None:
        sid = self._busy.get((tenant_id, number))
        return self._calls.get(sid) if sid is not None else None

    def calls(self, tenant_id: str) -> list[CallRecord]:
        return sorted(
            (c for c in self._calls.values() if c.tenant_id == tenant_id), key=lambda c: c.seq
        )

    def reset(self, tenant_id: str | None = None) -> None:
        if tenant_id is None:
            self._calls.clear()
            self._active.clear()
            self._busy.clear()
            return
        for sid in [s for s, c in self._calls.items() if c.tenant_id == tenant_id]:
            del self._calls[sid]
            self._active.pop(sid, None)
        for key in [k for k in self._busy if k[0] == tenant_id]:
            del self._busy[key]


class SqliteCallStore(CallStore):
    """Calls kept in SQLite too (with `--state-file`): each save is committed before it returns;
    reads come from memory, rebuilt from the file on start. Rows are pickled call records: the
    file is the mock's own state, written and read only by the mock."""

    def __init__(self, path: str | Path) -> None:
        self._memory = MemoryCallStore()
        self._db = open_state_file(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS calls"
            " (sid TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, body BLOB NOT NULL)"
        )
        for (body,) in self._db.execute("SELECT body FROM calls ORDER BY rowid"):
            self._memory.save(pickle.loads(body))

    def get(self, sid: str) -> CallRecord | None:
        return self._memory.get(sid)

    def save(self, call: CallRecord) -> None:
        self._memory.save(call)
        self._db.execute(
            "INSERT INTO calls VALUES (?, ?, ?)"
            " ON CONFLICT(sid) DO UPDATE SET body = excluded.body",
            (call.sid, call.tenant_id, pickle.dumps(call, protocol=pickle.HIGHEST_PROTOCOL)),
        )

    def due(self, now: float) -> list[CallRecord]:
        return self._memory.due(now)

    def busy_call(self, tenant_id: str, number: str) -> CallRecord | None:
        return self._memory.busy_call(tenant_id, number)

    def calls(self, tenant_id: str) -> list[CallRecord]:
        return self._memory.calls(tenant_id)

    def reset(self, tenant_id: str | None = None) -> None:
        self._memory.reset(tenant_id)
        if tenant_id is None:
            self._db.execute("DELETE FROM calls")
        else:
            self._db.execute("DELETE FROM calls WHERE tenant_id = ?", (tenant_id,))

    def close(self) -> None:
        self._db.close()
