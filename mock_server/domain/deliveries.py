"""Callback deliveries as data: what was sent where, each attempt, and how it ended.

Plain records, so that a delivery can be part of a unit of work (`changes.Changeset`) and kept by
any store; sending them is the dispatcher's business (`callbacks/dispatcher.py`).
"""

from __future__ import annotations

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
