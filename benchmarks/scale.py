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
from mock_server.domain.allocations import ACTIVE, GREENPIN, TWOWAY, Allocation, Party
from mock_server.domain.backend import Backend
from mock_server.domain.events import DiscardEvents
from mock_server.domain.greenpin import GreenPinRequest, PartyRequest
from mock_server.ids import IdSource
from mock_server.settings import Settings
from mock_server.store.memory import MemoryStore

TENANT = "bench"
VN_COUNT = 100
PIN_LENGTH = 6
LIFETIME = 180 * 86400
START = 1_790_000_000.0
# Populated allocation i has numbers 98/99 + i; the timed creates use numbers from here on.
TIMED_BASE = 50_000_000


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
    def __init__(self, populate: str) -> None:
        self.settings = settings()
        self.tenant = self.settings.tenants[TENANT]
        self.vns = [n.number for n in self.tenant.numbers]
        self.store = MemoryStore()
        self.clock = FrozenClock(START)
        self.backend = Backend(self.settings, self.store, DiscardEvents(), self.clock, IdSource(1))
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
                a=Party("a", [f"+9198{i:08d}"], [vn], [pin], PIN_LENGTH),
                b=Party("b", [f"+9199{i:08d}"], [vn], [], None),
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

    def time_creates(self, count: int) -> dict[str, float]:
        requests = []
        for _ in range(count):
            n = TIMED_BASE + self.timed
            self.timed += 1
            requests.append(self._request(f"timed-{n}", n, self.vns[n % VN_COUNT]))
        create, tenant = self.backend.greenpins.create, self.tenant
        return _timed(lambda r: create(tenant, r), requests)

    def time_gets(self, count: int, rng: random.Random) -> dict[str, float]:
        picks = [self.ids[rng.randrange(len(self.ids))] for _ in range(count)]
        get, tenant = self.backend.greenpins.get, self.tenant
        return _timed(lambda i: get(tenant, i), picks)

    def time_dict_floor(self, count: int, rng: random.Random) -> dict[str, float]:
        """The same timing of a bare `dict.get` on the same ids: what any in-memory lookup of
        this many keys costs here (the cache misses of a large table), the floor for a get."""
        table = dict.fromkeys(self.ids, 0)
        picks = [self.ids[rng.randrange(len(self.ids))] for _ in range(count)]
        result = _timed(table.get, picks)
        del table
        return result


def full_collection_ms() -> float:
    """How long one full garbage collection takes now: the pause a server makes whenever the
    collector decides the oldest generation is due (every request waits for it)."""
    started = time.perf_counter()
    gc.collect()
    return (time.perf_counter() - started) * 1000


ROUNDS = 3


def _timed(operation: Any, arguments: list[Any]) -> dict[str, float]:
    """Microseconds per call of `operation` over the arguments, each call timed on its own.

    The calls are made in ROUNDS rounds; `mean_us` is the mean of the fastest round (the one
    least disturbed by anything else on the machine), p50/p99/max are over every call."""
    clock = time.perf_counter
    laps: list[float] = []
    round_means = []
    size = max(1, len(arguments) // ROUNDS)
    for start in range(0, len(arguments), size):
        batch = arguments[start : start + size]
        started = clock()
        for argument in batch:
            t0 = clock()
            operation(argument)
            laps.append(clock() - t0)
        round_means.append((clock() - started) / len(batch))
    laps.sort()
    return {
        "count": len(arguments),
        "mean_us": min(round_means) * 1e6,
        "round_means_us": [m * 1e6 for m in round_means],
        "p50_us": laps[len(laps) // 2] * 1e6,
        "p99_us": laps[int(len(laps) * 0.99)] * 1e6,
        "max_us": laps[-1] * 1e6,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--creates", type=int, default=3000, help="timed creates at each size")
    parser.add_argument("--gets", type=int, default=20000, help="timed gets at each size")
    parser.add_argument("--populate", choices=["store", "domain"], default="domain")
    args = parser.parse_args(argv)
    if args.large > VN_COUNT * 10**PIN_LENGTH // 2:
        parser.error("--large is more than half the PIN space of the benchmark tenant")

    rng = random.Random(7)
    bench = Bench(args.populate)
    # Compile and warm everything the timed loops touch, then forget it.
    bench.time_creates(50)
    bench.store.reset()
    gc.collect()
    rss_before = rss_bytes()

    result: dict[str, Any] = {"populate_mode": args.populate, "vns": VN_COUNT}
    small_fill = bench.populate_to(args.small)
    result["small"] = {
        "allocations": args.small,
        "populate_s": small_fill,
        "create": bench.time_creates(args.creates),
        "get": bench.time_gets(args.gets, rng),
        "dict_floor": bench.time_dict_floor(args.gets, rng),
        "full_gc_ms": full_collection_ms(),
    }
    large_fill = bench.populate_to(args.large)
    gc.collect()
    active = sum(1 for _ in bench.store.allocations(TENANT))
    rss_after = rss_bytes()
    result["large"] = {
        "allocations": args.large,
        "populate_s": large_fill + small_fill,
        "populate_rate_per_s": args.large / (large_fill + small_fill),
        "create": bench.time_creates(args.creates),
        "get": bench.time_gets(args.gets, rng),
        "dict_floor": bench.time_dict_floor(args.gets, rng),
        "full_gc_ms": full_collection_ms(),
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
