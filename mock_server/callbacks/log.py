"""The delivery log: every callback the mock produced, each attempt, and how it ended."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

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

    def __len__(self) -> int:
        return len(self._entries)
