"""What every process of a shared state keeps in step besides its units of work (the callback
log, the fault count), and how Redis' answers and failures read."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from ..domain.changes import Faults, StoreUnavailable
from ..domain.deliveries import DELIVERED, Delivery
from .deliveries import DeliveryLog
from .shared_scripts import TAKE_FAULT


@contextlib.contextmanager
def reachable(what: str) -> Iterator[None]:
    """Redis failing (down, cut off, too slow) as the store's refusal: code 0, state unchanged."""
    import redis

    try:
        yield
    except redis.RedisError as exc:
        raise StoreUnavailable(f"{what}: the shared store failed: {exc}") from None


class SharedFaults(Faults):
    """One count of injected failures for every process. Every request reads the count as it
    catches up (`RedisState.refresh`), so only one made while faults are set costs another
    round trip."""

    def __init__(self, client: Any, key: str) -> None:
        super().__init__()
        self._client = client
        self._key = key
        self._take = client.register_script(TAKE_FAULT)
        self.seen = 0

    def set(self, count: int) -> None:
        with reachable("setting faults"):
            self._client.set(self._key, count)
        self.seen = count

    def take(self) -> bool:
        if self.seen <= 0:
            return False
        with reachable("reading faults"):
            taken = bool(self._take(keys=[self._key]))
        self.seen = self.seen - 1 if taken else 0
        return taken


def why_unusable(exc: Exception) -> str:
    """Why a Redis cannot be used, in words that name neither the URL nor its password."""
    import redis

    if isinstance(exc, redis.AuthenticationError):
        return "it refused the credentials (the password in the URL)"
    if isinstance(exc, redis.ResponseError):
        return f"it refused: {str(exc)[:100]}"
    if isinstance(exc, ValueError | TypeError):
        return f"an option of the URL is not one the Redis client takes ({type(exc).__name__})"
    return "cannot reach it: is Redis running there?"


def entries_of(raw: list[Any]) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """Log entries as a script returns them (each one's fields a flat list), as pairs."""
    return [(entry_id, dict(zip(f[::2], f[1::2], strict=True))) for entry_id, f in raw]


def stream_id(position: str) -> tuple[int, int]:
    """A log position, comparable ("-" is before every entry)."""
    if position == "-":
        return (-1, -1)
    millis, _, seq = position.partition("-")
    return (int(millis), int(seq or 0))


class SharedDeliveryLog(DeliveryLog):
    """The callback log of one process of a shared mock: deliveries pending at start are not
    resumed here (their owners send them, or another process claims them when an owner dies),
    and another process's record of a delivery adds its attempts to the ones known here."""

    def __init__(self, limit: int, owns: Callable[[Delivery], bool]) -> None:
        super().__init__(limit)
        self._owns = owns

    def undelivered(self) -> list[Delivery]:
        return []

    def owns(self, delivery: Delivery) -> bool:
        return self._owns(delivery)

    def replace(self, delivery: Delivery) -> None:
        known = self.get(delivery.id)
        if known is None:
            return
        # In place: the dispatcher of this process may hold the same object.
        seen = {(a.at, a.number, a.status_code, a.error) for a in known.attempts}
        merged = known.attempts + [
            a for a in delivery.attempts if (a.at, a.number, a.status_code, a.error) not in seen
        ]
        known.attempts = sorted(merged, key=lambda a: a.at)
        if known.outcome != DELIVERED:
            known.outcome = delivery.outcome
        super().replace(known)
