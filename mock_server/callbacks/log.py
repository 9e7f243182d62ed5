"""The delivery log: every callback the mock produced, each attempt, and how it ended."""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..store.sqlite import open_state_file

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
# An event of a tenant that configured no URL for it: recorded, never sent.
NOT_SENT = "not_sent"
OUTCOMES = (PENDING, DELIVERED, FAILED, NOT_SENT)


@dataclass
class Attempt:
    number: int
    at: str
    status_code: int | None = None
    error: str | None = None
    elapsed_ms: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "at": self.at,
            "status_code": self.status_code,
            "error": self.error,
            "elapsed_ms": round(self.elapsed_ms, 1),
        }


@dataclass
class Delivery:
    id: str
    tenant_id: str
    event: str
    url: str | None
    payload: dict[str, Any]
    created_at: str
    outcome: str = PENDING
    attempts: list[Attempt] = field(default_factory=list)
    redelivery_of: str | None = None
    sequence: str | None = None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Delivery:
        return cls(
            id=raw["id"],
            tenant_id=raw["tenant_id"],
            event=raw["event"],
            url=raw["url"],
            payload=raw["payload"],
            created_at=raw["created_at"],
            outcome=raw["outcome"],
            attempts=[Attempt(**a) for a in raw["attempts"]],
            redelivery_of=raw["redelivery_of"],
            sequence=raw.get("sequence"),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "event": self.event,
            "url": self.url,
            "payload": self.payload,
            "created_at": self.created_at,
            "outcome": self.outcome,
            "attempts": [a.as_json() for a in self.attempts],
            "redelivery_of": self.redelivery_of,
            "sequence": self.sequence,
        }


class DeliveryLog:
    """The most recent `limit` deliveries, oldest first; the oldest finished ones go first."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._entries: OrderedDict[str, Delivery] = OrderedDict()

    def add(self, delivery: Delivery) -> None:
        self._entries[delivery.id] = delivery
        while len(self._entries) > self.limit:
            self._entries.popitem(last=False)

    def get(self, delivery_id: str) -> Delivery | None:
        return self._entries.get(delivery_id)

    def find(
        self,
        *,
        event: str | None = None,
        tenant_id: str | None = None,
        outcome: str | None = None,
    ) -> list[Delivery]:
        return [
            d
            for d in self._entries.values()
            if (event is None or d.event == event)
            and (tenant_id is None or d.tenant_id == tenant_id)
            and (outcome is None or d.outcome == outcome)
        ]

    def clear(self, tenant_id: str | None = None) -> None:
        if tenant_id is None:
            self._entries.clear()
            return
        for key in [k for k, d in self._entries.items() if d.tenant_id == tenant_id]:
            del self._entries[key]

    def update(self, delivery: Delivery) -> None:
        """Records a change of a logged delivery (an attempt, its outcome)."""

    def undelivered(self) -> list[Delivery]:
        """Deliveries that were under way, to resume after a restart."""
        return [d for d in self._entries.values() if d.outcome == PENDING and d.url]

    def close(self) -> None:
        """Releases what the log holds open; nothing by default."""

    def __len__(self) -> int:
        return len(self._entries)


class SqliteDeliveryLog(DeliveryLog):
    """The delivery log kept in SQLite too, so that a restart still shows it and still
    delivers what was under way. Every change is committed before the call returns."""

    def __init__(self, path: str | Path, limit: int = 10_000) -> None:
        super().__init__(limit)
        self._db = open_state_file(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS callbacks (id TEXT PRIMARY KEY, seq INTEGER, body TEXT)"
        )
        self._seq = 0
        for seq, body in self._db.execute("SELECT seq, body FROM callbacks ORDER BY seq"):
            super().add(Delivery.from_json(json.loads(body)))
            self._seq = seq

    def add(self, delivery: Delivery) -> None:
        super().add(delivery)
        self._seq += 1
        self._db.execute(
            "INSERT OR REPLACE INTO callbacks VALUES (?, ?, ?)",
            (delivery.id, self._seq, json.dumps(delivery.as_json())),
        )
        # Keep the table as long as the log.
        self._db.execute("DELETE FROM callbacks WHERE seq <= ?", (self._seq - self.limit,))

    def update(self, delivery: Delivery) -> None:
        self._db.execute(
            "UPDATE callbacks SET body = ? WHERE id = ?",
            (json.dumps(delivery.as_json()), delivery.id),
        )

    def clear(self, tenant_id: str | None = None) -> None:
        super().clear(tenant_id)
        if tenant_id is None:
            self._db.execute("DELETE FROM callbacks")
        else:
            kept = {d.id for d in self._entries.values()}
            for (delivery_id,) in self._db.execute("SELECT id FROM callbacks").fetchall():
                if delivery_id not in kept:
                    self._db.execute("DELETE FROM callbacks WHERE id = ?", (delivery_id,))

    def close(self) -> None:
        self._db.close()
