"""What the domain tells the outside world: the sink its callbacks go to (their payloads are
built by `payloads`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from .deliveries import Delivery


class EventSink(Protocol):
    """Where the domain's callbacks go; the dispatcher is the one real implementation.

    `prepare` checks a payload against its event's schema (raising when it breaks it) and makes
    the deliveries to log, changing nothing; `dispatch` sends them once their unit of work is
    committed.
    """

    def prepare(
        self,
        tenant_id: str,
        event: str,
        payload: dict[str, Any],
        url: str | None,
        sequence: str | None,
    ) -> list[Delivery]: ...

    def redelivery(self, original: Delivery, url: str | None) -> Delivery: ...

    def dispatch(self, deliveries: Sequence[Delivery]) -> None: ...

    def forget(self, tenant_id: str | None) -> None:
        """Sends no more of a tenant's (or anyone's) queued deliveries: they were reset."""


class DiscardEvents:
    """An EventSink that keeps and sends nothing: for code that runs the domain without
    callbacks (benchmarks of the domain alone)."""

    def prepare(
        self,
        tenant_id: str,
        event: str,
        payload: dict[str, Any],
        url: str | None,
        sequence: str | None,
    ) -> list[Delivery]:
        return []

    def redelivery(self, original: Delivery, url: str | None) -> Delivery:
        raise LookupError("nothing is logged")

    def dispatch(self, deliveries: Sequence[Delivery]) -> None:
        return None

    def forget(self, tenant_id: str | None) -> None:
        return None
