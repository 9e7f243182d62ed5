"""In-process scale check of the mock's domain: does a GreenPin create or get cost more when the
store holds a million active allocations instead of a thousand, and what does each one weigh?

Runs the real domain (`Backend` with a `MemoryStore`, events discarded, a frozen clock) on a
benchmark tenant of 100 VNs with 6-digit PINs (so that a million allocations fit: 10,000 per VN
out of 1,000,000 PINs). Prints one JSON document; `run.py` runs it in a child process so that
its memory figure is not mixed with anything else.

    python benchmarks/scale.py [--large 1000000] [--small 1000] [--creates 3000] [--gets 20000]

The store is populated through `GreenPins.create` (`--populate domain`, the default), or, about
twice as fast, with `MemoryStore.save` of allocations built as `GreenPins.create` builds them
(E.164 numbers, one VN, a 6-digit PIN, 180-day deallocation) without the create's checks
(`--populate store`; the objects then lie more compactly in memory, which flatters the figures
at a million). The timed creates and gets always go through `GreenPins`.

Both stores, the small and the large, live in the one process, and their timings alternate in
rounds (small, large, small, ...) so that both see the machine in the same states; each figure is
the mean of its fastest round. The garbage collector runs as in a served mock (whatever
`mock_server.gc_tuning` installs, where the mock has it; `--gc-tuning none` leaves it untouched),
and its pauses are recorded while the large store fills and while the operations are timed.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from typing import Any

from mock_server.clock import FrozenClock
from mock_server.domain.allocations import ACTIVE, GREENPIN, TWOWAY, Allocation
from mock_server.domain.backend import Backend
from mock_server.domain.events import DiscardEvents
from mock_server.domain.greenpin import GreenPinRequest, PartyRequest
from mock_server.ids import IdSource
from mock_server.settings import Settings
from mock_server.store.memory import MemoryStore
from mock_server.store.state import State

TENANT = "bench"
VN_COUNT = 100
PIN_LENGTH = 6
LIFETIME = 180 * 86400
START = 1_790_000_000.0
# Populated allocation i has numbers 98/99 + i; the timed creates of the small and the large
# store use numbers from these on.
TIMED_BASE_SMALL = 50_000_000
TIMED_BASE_LARGE = 70_000_000
ROUNDS = 3


def rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        pages = int(statm.read().split()[1])
    import resource

    return pages * resource.getpagesize()


def settings() -> Settings:
    # Bengaluru landlines +91 80 41xx xxxx: valid numbers, as the tenant's pool requires.
    vns = [f"+918041{i:06d}" for i in range(VN_COUNT)]
    raw = {
        "tenants": {
            TENANT: {
                "credentials": [{"api_key": "bench_key", "api_token": "bench_token"}],
                "pins": {"a": True, "b": False},
                "numbers": [{"number": vn, "region": "KA", "type": "landline"} for vn in vns],
            }
        }
    }
    return Settings.from_mapping(raw, "benchmark settings")


class Bench:
    def __init__(self, populate: str, timed_base: int) -> None:
        self.timed_base = timed_base
        self.floor_table: dict[str, int] = {}
        self.settings = settings()
        self.tenant = self.settings.tenants[TENANT]
        self.vns = [n.number for n in self.tenant.numbers]
        self.store = MemoryStore()
        self.clock = FrozenClock(START)
        self.backend = Backend(
            self.settings, State(allocations=self.store), DiscardEvents(), self.clock, IdSource(1)
        )
        self.populated = 0
        self.populate_mode = populate
        self.ids: list[str] = []
        self.timed = 0

    def populate_to(self, target: int) -> float:
        """Adds allocations until `target` were populated; the seconds it took."""
        started = time.perf_counter()
        if self.populate_mode == "domain":
            self._populate_domain(target)
        else:
            self._populate_store(target)
        return time.perf_counter() - started

    def _populate_store(self, target: int) -> None:
        store, vns, uuid, now = self.store, self.vns, self.backend.ids.uuid, self.clock.now()
        for i in range(self.populated, target):
            vn = vns[i % VN_COUNT]
            # i // VN_COUNT is distinct per VN; times 7919 (prime to 10**6) spreads the PINs.
            # The timed creates take random PINs in between: step past those.
            code = (i // VN_COUNT) * 7919 % 10**PIN_LENGTH
            while store.route(vn, pin := f"{code:06d}") is not None:
                code = (code + 1) % 10**PIN_LENGTH
            allocation = Allocation(
                kind=GREENPIN,
                tenant_id=TENANT,
                id=uuid(),
                ref=f"pop-{i}",
                a_numbers=(f"+9198{i:08d}",),
                a_vns=(vn,),
                a_pins=(pin,),
                b_numbers=(f"+9199{i:08d}",),
                b_vns=(vn,),
                b_pins=(),
                usage=TWOWAY,
                state=ACTIVE,
                created_at=now,
                deallocate_at=now + LIFETIME,
            )
            store.save(allocation)
            self.ids.append(allocation.id)
        self.populated = target

    def _populate_domain(self, target: int) -> None:
        create, tenant, vns = self.backend.greenpins.create, self.tenant, self.vns
        for i in range(self.populated, target):
            allocation = create(tenant, self._request(f"pop-{i}", i, vns[i % VN_COUNT]))
            self.ids.append(allocation.id)
        self.populated = target

    @staticmethod
    def _request(ref: str, n: int, vn: str) -> GreenPinRequest:
        return GreenPinRequest(
            transaction_id=ref,
            a=PartyRequest(numbers=[f"98{n:08d}"], vns=[vn], pin_length=PIN_LENGTH),
            b=PartyRequest(numbers=[f"99{n:08d}"]),
            usage=TWOWAY,
        )

    def time_creates(self, count: int) -> Laps:
        requests = []
        for _ in range(count):
            n = self.timed_base + self.timed
            self.timed += 1
            requests.append(self._request(f"timed-{n}", n, self.vns[n % VN_COUNT]))
        create, tenant = self.backend.greenpins.create, self.tenant
        return Laps.of(lambda r: create(tenant, r), requests)

    def time_gets(self, count: int, rng: random.Random) -> Laps:
        picks = [self.ids[rng.randrange(len(self.ids))] for _ in range(count)]
        get, tenant = self.backend.greenpins.get, self.tenant
        return Laps.of(lambda i: get(tenant, i), picks)

    def time_dict_floor(self, count: int, rng: random.Random) -> Laps:
        """The same timing of a bare `dict.get` on the same ids: what any in-memory lookup of
        this many keys costs here (the cache misses of a large table), the floor for a get."""
        if len(self.floor_table) != len(self.ids):
            self.floor_table = dict.fromkeys(self.ids, 0)
        picks = [self.ids[rng.randrange(len(self.ids))] for _ in range(count)]
        return Laps.of(self.floor_table.get, picks)


class Laps:
    """Per-call times of one or more rounds of calls."""

    def __init__(self) -> None:
        self.laps: list[float] = []
        self.round_means: list[float] = []

    @classmethod
    def of(cls, operation: Any, arguments: list[Any]) -> Laps:
        """One round: `operation` over the arguments, each call timed on its own."""
        clock = time.perf_counter
        laps = cls()
        started = clock()
        for argument in arguments:
            t0 = clock()
            operation(argument)
            laps.laps.append(clock() - t0)
        laps.round_means.append((clock() - started) / len(arguments))
        return laps

    def __iadd__(self, other: Laps) -> Laps:
        self.laps += other.laps
        self.round_means += other.round_means
        return self

    def summary(self) -> dict[str, Any]:
        """`mean_us` is the mean of the fastest round (the one least disturbed by anything else
        on the machine); p50, p99 and max are over every call."""
        laps = sorted(self.laps)
        return {
            "count": len(laps),
            "mean_us": min(self.round_means) * 1e6,
            "round_means_us": [m * 1e6 for m in self.round_means],
            "p50_us": laps[len(laps) // 2] * 1e6,
            "p99_us": laps[int(len(laps) * 0.99)] * 1e6,
            "max_us": laps[-1] * 1e6,
        }


class Pauses:
    """The garbage collector's pauses, as `gc.callbacks` sees them."""

    def __init__(self) -> None:
        self.started = 0.0
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.total = 0.0
        self.longest = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
            return
        pause = time.perf_counter() - self.started
        self.count += 1
        self.total += pause
        self.longest = max(self.longest, pause)

    def summary(self) -> dict[str, float]:
        return {
            "collections": self.count,
            "total_ms": self.total * 1000,
            "longest_ms": self.longest * 1000,
        }


def install_gc_tuning() -> bool:
    """What a served mock does with the collector (`mock_server.gc_tuning`, where the mock has
    it); whether there was anything to install."""
    try:
        from mock_server import gc_tuning
    except ImportError:
        return False
    gc_tuning.install()
    return True


def full_collection_ms() -> float:
    """How long one full garbage collection takes now: the pause a server makes whenever the
    collector decides the oldest generation is due (every request waits for it)."""
    started = time.perf_counter()
    gc.collect()
    return (time.perf_counter() - started) * 1000


def alternate(
    small: Bench, large: Bench, timing: Any, count: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """`count` timed calls on each store, in ROUNDS rounds alternating small and large, so that
    both see the machine in the same states."""
    mine, theirs = Laps(), Laps()
    for _ in range(ROUNDS):
        mine += timing(small, max(1, count // ROUNDS))
        theirs += timing(large, max(1, count // ROUNDS))
    return mine.summary(), theirs.summary()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--creates", type=int, default=3000, help="timed creates at each size")
    parser.add_argument("--gets", type=int, default=20000, help="timed gets at each size")
    parser.add_argument("--populate", choices=["store", "domain"], default="domain")
    parser.add_argument(
        "--gc-tuning",
        choices=["served", "none"],
        default="served",
        help="run the collector as a served mock does (mock_server.gc_tuning), or untouched",
    )
    args = parser.parse_args(argv)
    if args.large > VN_COUNT * 10**PIN_LENGTH // 2:
        parser.error("--large is more than half the PIN space of the benchmark tenant")

    rng = random.Random(7)
    tuned = install_gc_tuning() if args.gc_tuning == "served" else False
    pauses = Pauses()
    small = Bench(args.populate, TIMED_BASE_SMALL)
    large = Bench(args.populate, TIMED_BASE_LARGE)
    for bench in (small, large):
        # Compile and warm everything the timed loops touch, then forget it.
        bench.time_creates(50)
        bench.store.reset()
    gc.collect()

    result: dict[str, Any] = {
        "populate_mode": args.populate,
        "vns": VN_COUNT,
        "gc_tuning": tuned,
    }
    gc.callbacks.append(pauses)
    small_fill = small.populate_to(args.small)
    small_gc = full_collection_ms()
    rss_before = rss_bytes()
    pauses.reset()
    large_fill = large.populate_to(args.large)
    result["pauses_while_filling"] = pauses.summary()
    rss_after = rss_bytes()
    active = sum(1 for _ in large.store.allocations(TENANT))

    # Both stores live in this process; their timings alternate, round by round.
    pauses.reset()
    creates = alternate(small, large, lambda b, n: b.time_creates(n), args.creates)
    gets = alternate(small, large, lambda b, n: b.time_gets(n, rng), args.gets)
    result["pauses_while_timing"] = pauses.summary()
    floors = alternate(small, large, lambda b, n: b.time_dict_floor(n, rng), args.gets)
    gc.callbacks.remove(pauses)
    large_gc = full_collection_ms()
    for index, (name, size, fill, pause) in enumerate(
        (("small", args.small, small_fill, small_gc), ("large", args.large, large_fill, large_gc))
    ):
        result[name] = {
            "allocations": size,
            "populate_s": fill,
            "populate_rate_per_s": size / fill if fill else 0.0,
            "create": creates[index],
            "get": gets[index],
            "dict_floor": floors[index],
            "full_gc_ms": pause,
        }
    result["memory"] = {
        "active_allocations": active,
        "rss_before_bytes": rss_before,
        "rss_after_bytes": rss_after,
        "bytes_per_allocation": (rss_after - rss_before) / active,
    }
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
