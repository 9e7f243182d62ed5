"""The callback log in memory: every callback the mock produced, each attempt, how it ended."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from ..domain.deliveries import PENDING, Delivery


class DeliveryLog:
    """The most recent `limit` deliveries, oldest first.

    New entries come only through the state's commit (`add`); the dispatcher records attempts
    and outcomes with `update`, which the state file (when there is one) keeps as well.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._entries: OrderedDict[str, Delivery] = OrderedDict()
        # Called with a delivery whose attempts or outcome changed (set by the state file).
        self.on_update: Callable[[Delivery], None] | None = None

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
        if self.on_update is not None and delivery.id in self._entries:
            self.on_update(delivery)

    def undelivered(self) -> list[Delivery]:
        """Deliveries that were under way, to resume after a restart."""
        return [d for d in self._entries.values() if d.outcome == PENDING and d.url]

    def __len__(self) -> int:
        return len(self._entries)
