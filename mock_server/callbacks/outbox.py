"""The outbox: logged deliveries waiting to be sent, and the bounded set of workers that send
them.

- At most `workers` attempts are under way at once, and at most `per_host` to one destination
  (scheme, host and port): a burst queues, it does not fail, and waiting is not an attempt.
- Destinations with work take turns, so a slow or dead receiver delays only its own deliveries.
- The callbacks of one `sequence` (one call's) are sent in order: each becomes ready when the one
  before it has ended, delivered or failed.
- A retry waits on a timer, holding no worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..domain.deliveries import PENDING, Delivery

logger = logging.getLogger("exomock")

# What one attempt came to.
DONE = "done"  # delivered, or failed for good: the delivery has ended
RETRY = "retry"  # try again after the next delay

Attempt = Callable[[Delivery], Awaitable[str]]


@dataclass
class Lane:
    """The deliveries of one destination that are ready to go."""

    key: str
    ready: deque[Delivery] = field(default_factory=deque)
    in_flight: int = 0
    turn_taken: bool = False  # waiting in the turn order


class Outbox:
    def __init__(
        self,
        attempt: Attempt,
        *,
        workers: int,
        per_host: int,
        retry_delay: Callable[[Delivery], float | None],
        destination: Callable[[Delivery], str],
        on_defect: Callable[[Delivery], None],
    ) -> None:
        self._attempt = attempt
        self._on_defect = on_defect
        self._retry_delay = retry_delay
        self._destination = destination
        self.workers = workers
        self.per_host = per_host
        self._lanes: dict[str, Lane] = {}
        self._turns: deque[Lane] = deque()
        self._work = asyncio.Event()
        # Retries and delayed first attempts: (when, tie-breaker, delivery).
        self._later: list[tuple[float, int, Delivery]] = []
        self._ticket = itertools.count()
        self._timer_wake = asyncio.Event()
        # The last delivery of each sequence, and who waits for whom.
        self._tails: dict[str, Delivery] = {}
        self._waiting: dict[str, Delivery] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    # -- life -----------------------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(self.workers)]
        self._tasks.append(asyncio.create_task(self._timer()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    @property
    def queued(self) -> int:
        """Deliveries waiting: ready, on a retry timer, or behind another of their sequence."""
        return sum(len(lane.ready) for lane in self._lanes.values()) + len(self._later) + len(
            self._waiting
        )

    async def drain(self, timeout: float) -> None:
        """Waits until nothing is queued or in flight (or `timeout` passes)."""
        deadline = time.monotonic() + timeout
        while (self.queued or self.in_flight) and time.monotonic() < deadline:
            self._idle.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout=min(0.05, timeout))

    # -- putting in -----------------------------------------------------------------------------

    def put(self, delivery: Delivery, *, in_order: bool = True, delay: float = 0.0) -> None:
        """Queues a pending delivery; one of a sequence waits for the one before it, unless
        `in_order` is off."""
        sequence = delivery.sequence
        if sequence and in_order:
            tail = self._tails.get(sequence)
            self._tails[sequence] = delivery
            if tail is not None and tail.outcome == PENDING:
                self._waiting[tail.id] = delivery
                return
        self._schedule(delivery, delay)

    def _schedule(self, delivery: Delivery, delay: float) -> None:
        if delay > 0:
            heapq.heappush(self._later, (time.monotonic() + delay, next(self._ticket), delivery))
            self._timer_wake.set()
            return
        key = self._destination(delivery)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = Lane(key)
        lane.ready.append(delivery)
        self._offer(lane)

    def _offer(self, lane: Lane) -> None:
        if lane.ready and lane.in_flight < self.per_host and not lane.turn_taken:
            lane.turn_taken = True
            self._turns.append(lane)
            self._work.set()

    # -- sending --------------------------------------------------------------------------------

    async def _next(self) -> tuple[Lane, Delivery]:
        while not self._turns:
            self._work.clear()
            await self._work.wait()
        lane = self._turns.popleft()
        lane.turn_taken = False
        delivery = lane.ready.popleft()
        lane.in_flight += 1
        self.in_flight += 1
        self._offer(lane)  # its next delivery takes a turn behind the other destinations
        return lane, delivery

    async def _worker(self) -> None:
        while True:
            lane, delivery = await self._next()
            try:
                verdict = await self._attempt(delivery)
            except asyncio.CancelledError:
                raise
            except Exception:  # a defect of the mock: the delivery ends, the worker goes on
                logger.exception("delivery %s failed in the mock", delivery.id)
                self._on_defect(delivery)
                verdict = DONE
            finally:
                lane.in_flight -= 1
                self.in_flight -= 1
            if verdict == RETRY:
                delay = self._retry_delay(delivery)
                if delay is not None:
                    self._schedule(delivery, delay)
                    self._offer(lane)
                    continue
            self.finished(delivery)
            self._offer(lane)
            if not lane.ready and not lane.in_flight:
                del self._lanes[lane.key]
            if not self.in_flight and not self.queued:
                self._idle.set()

    def finished(self, delivery: Delivery) -> None:
        """The delivery has ended: the next of its sequence may go."""
        following = self._waiting.pop(delivery.id, None)
        if following is not None:
            self._schedule(following, 0.0)
        elif delivery.sequence and self._tails.get(delivery.sequence) is delivery:
            del self._tails[delivery.sequence]

    async def _timer(self) -> None:
        while True:
            self._timer_wake.clear()
            now = time.monotonic()
            while self._later and self._later[0][0] <= now:
                _, _, delivery = heapq.heappop(self._later)
                self._schedule(delivery, 0.0)
            wait = self._later[0][0] - now if self._later else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._timer_wake.wait(), timeout=wait)
