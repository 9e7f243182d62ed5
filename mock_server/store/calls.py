"""Where calls are kept in memory (`domain.ports.CallStore`); the state file keeps them too."""

from __future__ import annotations

from collections.abc import Iterable

from ..domain.call_model import CallRecord
from ..domain.ports import CallStore


class MemoryCallStore(CallStore):
    def __init__(self) -> None:
        self._calls: dict[str, CallRecord] = {}
        self._active: dict[str, CallRecord] = {}
        self._busy: dict[tuple[str, str], str] = {}
        self._last_seq = 0

    def get(self, sid: str) -> CallRecord | None:
        return self._calls.get(sid)

    def apply(self, calls: Iterable[CallRecord]) -> None:
        for call in calls:
            self._apply(call)

    def _apply(self, call: CallRecord) -> None:
        old = self._calls.get(call.sid)
        if old is not None and old.managed_number is not None:
            key = (old.tenant_id, old.managed_number)
            if self._busy.get(key) == old.sid:
                del self._busy[key]
        self._calls[call.sid] = call
        self._last_seq = max(self._last_seq, call.seq)
        managed = call.managed_number
        if call.active:
            self._active[call.sid] = call
            if managed is not None:
                self._busy[(call.tenant_id, managed)] = call.sid
        else:
            self._active.pop(call.sid, None)

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

    def every_call(self) -> list[CallRecord]:
        """Every call of every account, in the order first kept."""
        return list(self._calls.values())

    def last_seq(self) -> int:
        return self._last_seq

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
