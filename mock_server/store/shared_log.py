"""What every process of a shared state keeps in step besides its units of work (the callback
log, the fault count, which process sends which callback), and how Redis' answers and failures
read."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from ..domain.changes import Faults, StoreUnavailable
from ..domain.deliveries import DELIVERED, PENDING, Delivery
from .deliveries import DeliveryLog
from .rows import encode_delivery
from .shared_scripts import ATTEMPT, TAKE_FAULT, TAKE_ORPHANS

logger = logging.getLogger("exomock")


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


class CallbackOwners:
    """Which process sends which pending callback: the one that committed it, while it renews
    its lease (`alive:<process>`); another one, once it has found that process without a lease
    at two looks running (`claim_orphans`)."""

    def __init__(
        self, client: Any, process: str, lease_seconds: float, *, owners: str, log: str,
        alive_prefix: str,
    ) -> None:
        self._client = client
        self.process = process
        self._lease_ms = int(lease_seconds * 1000)
        self._owners = owners
        self._log = log
        self._alive = alive_prefix + process
        self._alive_prefix = alive_prefix
        self._attempt = client.register_script(ATTEMPT)
        self._claim = client.register_script(TAKE_ORPHANS)
        # Owners found without a lease at the last look.
        self._suspects: list[str] = []

    def renew(self) -> None:
        """Keeps the callbacks this process owns its own for another lease."""
        self._client.set(self._alive, 1, px=self._lease_ms)

    def leave(self) -> None:
        """Gives up the lease at once: the others take the callbacks at their next looks."""
        with contextlib.suppress(Exception):
            self._client.delete(self._alive)

    def claim_orphans(self) -> list[str]:
        """Renews this process's lease; the ids of the callbacks it claimed from owners without
        a lease now and at the last look."""
        claimed, dead = self._claim(
            keys=[self._owners],
            args=[self.process, self._alive_prefix, self._lease_ms, *self._suspects],
        )
        self._suspects = [owner.decode() for owner in dead]
        return [raw.decode() for raw in claimed]

    def disown(self, delivery_ids: list[str]) -> None:
        if delivery_ids:
            self._client.hdel(self._owners, *delivery_ids)

    def still_owns(self, delivery: Delivery) -> bool:
        """Whether this process still owns a delivery it is about to attempt (another may have
        claimed it while this one was stalled); on a store it cannot reach, it goes on."""
        try:
            owner: Any = self._client.hget(self._owners, delivery.id)
        except Exception:
            return True
        return owner is None or owner.decode() == self.process

    def record_attempt(self, delivery: Delivery) -> None:
        """Appends a delivery's attempts and outcome to the log (every process shows them); an
        ended one has no owner any more."""
        try:
            self._attempt(
                keys=[self._log, self._owners],
                args=[self.process, delivery.id, encode_delivery(delivery),
                      0 if delivery.outcome == PENDING else 1],
            )
        except Exception:  # the attempt happened; only the other processes' record misses it
            logger.exception("recording an attempt of delivery %s in the shared store",
                             delivery.id)
