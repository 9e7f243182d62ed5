"""What the domain tells the outside world, and the callback payloads it builds for it."""

from __future__ import annotations

from typing import Any, Protocol

from .allocations import Allocation


class EventSink(Protocol):
    """Where the domain's callbacks go; the dispatcher is the one real implementation."""

    def emit(
        self,
        tenant_id: str,
        event: str,
        payload: dict[str, Any],
        url: str | None = None,
        sequence: str | None = None,
    ) -> object: ...


class DiscardEvents:
    """An EventSink that drops everything: for code that runs the domain without delivery."""

    def emit(
        self,
        tenant_id: str,
        event: str,
        payload: dict[str, Any],
        url: str | None = None,
        sequence: str | None = None,
    ) -> object:
        return None


def deallocation_payload(allocation: Allocation) -> dict[str, Any]:
    return {
        "transaction_id": allocation.ref,
        "greenpin_id": allocation.id,
        "usage": allocation.usage,
        "aparty_numbers": list(allocation.a_numbers),
        "bparty_numbers": list(allocation.b_numbers),
        "aparty_vns": list(allocation.a_vns),
        "bparty_vns": list(allocation.b_vns),
        "aparty_pins": list(allocation.a_pins),
        "bparty_pins": list(allocation.b_pins),
        "state": allocation.state,
    }
