"""The outbox: logged deliveries waiting to be sent, and the bounded set of workers that send
them.

- At most `workers` attempts are under way at once, and at most `per_host` to one destination
  (scheme, host and port): a burst queues, it does not fail, and waiting is not an attempt.
- Destinations with work take turns, so a slow or dead receiver delays only its own deliveries.
  A destination starts with one attempt at a time, and each quick answer (under SLOW_SECONDS)
  doubles what it may have under way, up to `per_host`; a slow attempt (one under way, or one
  that ended) brings it back to one. So a receiver that never answers holds one worker, not
  `per_host`; slow destinations together hold at most half the workers.
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

SLOW_SECONDS = 2.0

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
    # When each attempt under way began; how many it may have under way, as earned.
    started: dict[int, float] = field(default_factory=dict)
    allowed: int = 1


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
        self._parked: set[str] = set()
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
        if lane.ready and lane.in_flight < lane.allowed and not lane.turn_taken:
            lane.turn_taken = True
            self._turns.append(lane)
            self._work.set()

    # -- sending --------------------------------------------------------------------------------

    async def _next(self) -> tuple[Lane, Delivery]:
        while True:
            while not self._turns:
                self._work.clear()
                await self._work.wait()
            lane = self._turns.popleft()
            lane.turn_taken = False
            if self._may_start(lane):
                break
            # Its turn comes again when one of its attempts ends, or, with none under way,
            # when any attempt ends (it waited for the slow destinations' share).
            if not lane.in_flight:
                self._parked.add(lane.key)
        delivery = lane.ready.popleft()
        lane.in_flight += 1
        self.in_flight += 1
        self._offer(lane)  # its next delivery takes a turn behind the other destinations
        return lane, delivery

    def _may_start(self, lane: Lane) -> bool:
        now = time.monotonic()
        if any(now - at >= SLOW_SECONDS for at in lane.started.values()):
            lane.allowed = 1
        if lane.in_flight >= lane.allowed:
            return False
        if lane.allowed > 1:
            return True
        # One at a time: slow or new destinations together hold at most half the workers.
        held = sum(other.in_flight for other in self._lanes.values() if other.allowed == 1)
        return held < max(1, self.workers // 2)

    async def _worker(self) -> None:
        while True:
            lane, delivery = await self._next()
            ticket = next(self._ticket)
            started = lane.started[ticket] = time.monotonic()
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
                del lane.started[ticket]
                if time.monotonic() - started < SLOW_SECONDS:
                    lane.allowed = min(self.per_host, lane.allowed * 2)
                else:
                    lane.allowed = 1
            delay = self._retry_delay(delivery) if verdict == RETRY else None
            if delay is not None:
                self._schedule(delivery, delay)
            else:
                self.finished(delivery)
            self._offer(lane)
            for key in self._parked:
                parked = self._lanes.get(key)
                if parked is not None:
                    self._offer(parked)
            self._parked.clear()
            # An idle destination is forgotten: it starts again from one attempt at a time.
            if not lane.ready and not lane.in_flight:
                self._lanes.pop(lane.key, None)
            if not self.in_flight and not self.queued:
                self._idle.set()

    def forget(self, gone: Callable[[Delivery], bool]) -> None:
        """Drops every queued delivery `gone` says was forgotten (ready, on a timer, or waiting
        behind another of its sequence)."""
        for lane in self._lanes.values():
            lane.ready = deque(d for d in lane.ready if not gone(d))
        self._later = [entry for entry in self._later if not gone(entry[2])]
        heapq.heapify(self._later)
        self._waiting = {k: d for k, d in self._waiting.items() if not gone(d)}
        self._tails = {k: d for k, d in self._tails.items() if not gone(d)}
        self._turns = deque(lane for lane in self._turns if lane.ready)
        in_turn = {id(lane) for lane in self._turns}
        for lane in self._lanes.values():
            lane.turn_taken = id(lane) in in_turn
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
