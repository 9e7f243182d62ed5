"""The callback log in memory: every callback the mock produced, each attempt, how it ended."""

from __future__ import annotations

import itertools
from collections import Counter, OrderedDict
from collections.abc import Callable

from ..domain.deliveries import OUTCOMES, PENDING, Delivery


class DeliveryLog:
    """Deliveries in the order they were logged, at most `limit` of them once they have ended.

    A pending delivery is never dropped (it would never be sent); beyond the limit, the entries
    that ended first go first. New entries come only through the state's commit (`add`); the
    dispatcher records attempts and outcomes with `update`, which the state file (when there is
    one) keeps as well.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._entries: OrderedDict[str, Delivery] = OrderedDict()
        # Ids of the entries that have ended, in the order they ended: the ones to drop first.
        self._ended: OrderedDict[str, None] = OrderedDict()
        # Called with a delivery whose attempts or outcome changed, and with the ids dropped
        # when entries end beyond the limit (set by the state file).
        self.on_update: Callable[[Delivery], None] | None = None
        self.on_evict: Callable[[list[str]], None] | None = None

    def evictions(self, new: list[Delivery]) -> list[str]:
        """The ids that adding these entries will drop: ended ones, oldest first, the new ones
        last (changes nothing)."""
        excess = len(self._entries) + len(new) - self.limit
        if excess <= 0:
            return []
        dropped: list[str] = []
        ended = itertools.chain(self._ended, (d.id for d in new if d.outcome != PENDING))
        for delivery_id in ended:
            if len(dropped) >= excess:
                break
            dropped.append(delivery_id)
        return dropped

    def add(self, deliveries: list[Delivery], evicted: list[str] | None = None) -> None:
        """Logs the deliveries and drops `evicted` (what `evictions` said, by default)."""
        if evicted is None:
            evicted = self.evictions(deliveries)
        for delivery in deliveries:
            self._entries[delivery.id] = delivery
            if delivery.outcome != PENDING:
                self._ended[delivery.id] = None
        for delivery_id in evicted:
            self._drop(delivery_id)

    def _drop(self, delivery_id: str) -> None:
        self._entries.pop(delivery_id, None)
        self._ended.pop(delivery_id, None)

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

    def counts(self) -> dict[str, int]:
        """How many entries there are of each outcome."""
        found = Counter(d.outcome for d in self._entries.values())
        return {outcome: found.get(outcome, 0) for outcome in OUTCOMES}

    def clear(self, tenant_id: str | None = None) -> None:
        if tenant_id is None:
            self._entries.clear()
            self._ended.clear()
            return
        for key in [k for k, d in self._entries.items() if d.tenant_id == tenant_id]:
            self._drop(key)

    def update(self, delivery: Delivery) -> None:
        """Records a change of a logged delivery (an attempt, its outcome)."""
        if delivery.id not in self._entries:
            return
        # The one who sends it holds the record (after a shared state is reloaded, the log's
        # copy is another object).
        self._entries[delivery.id] = delivery
        if delivery.outcome != PENDING:
            self._ended[delivery.id] = None
        if self.on_update is not None:
            self.on_update(delivery)
        # Beyond the limit while a burst was pending, the log shrinks back as entries end.
        evicted = self.evictions([]) if len(self._entries) > self.limit else []
        for delivery_id in evicted:
            self._drop(delivery_id)
        if evicted and self.on_evict is not None:
            self.on_evict(evicted)

    def owns(self, delivery: Delivery) -> bool:
        """Whether this process is the one to send the delivery (always, alone)."""
        return True

    def replace(self, delivery: Delivery) -> None:
        """Takes another process's record of a logged delivery (its attempts, its outcome)."""
        if delivery.id not in self._entries:
            return
        self._entries[delivery.id] = delivery
        if delivery.outcome != PENDING:
            self._ended[delivery.id] = None

    def every_delivery(self) -> list[Delivery]:
        """Every entry, in the order logged."""
        return list(self._entries.values())

    def undelivered(self) -> list[Delivery]:
        """Deliveries that were under way, to resume after a restart."""
        return [d for d in self._entries.values() if d.outcome == PENDING and d.url]

    def __len__(self) -> int:
        return len(self._entries)
