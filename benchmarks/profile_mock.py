#!/usr/bin/env python3
"""Where the mock spends a request's time: its ASGI app driven in-process, no sockets.

    python benchmarks/profile_mock.py                 # create, get, delete: µs per request
    python benchmarks/profile_mock.py --cprofile create --top 25
    python benchmarks/profile_mock.py --gc            # garbage-collector pauses per operation
    python benchmarks/profile_mock.py --gc --freeze   # the same after gc.freeze() at start-up

Each operation is sent straight to the ASGI callable (`create_app()`, the embedded default
configuration), next to the same operation on `ceiling_app.py`, so the difference is the mock's
own work. `--cprofile OP` profiles one operation and sums the time by package (mock_server
module, starlette, phonenumbers, jsonschema_rs, json, the rest of the standard library).
`--gc` records every collection the garbage collector makes during the run, and how long it took.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import gc
import json
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

PATH = "/v1/tenants/demo/greenpin"
AUTH = b"Basic " + base64.b64encode(b"demo_key:demo_token")


class Driver:
    """Sends requests to an ASGI app as uvicorn would, one at a time."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.status = 0
        self.body = b""

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        headers = [(b"host", b"127.0.0.1"), (b"authorization", AUTH)]
        if body:
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        sent = False
        chunks: list[bytes] = []
        status = 0

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


def vns() -> list[str]:
    config = yaml.safe_load((BENCH.parent / "mock_server" / "default_config.yaml").read_text())
    return [n["number"] for n in config["tenants"]["demo"]["numbers"]]


def create_body(n: int, pool: list[str]) -> bytes:
    return (
        f'{{"transaction_id":"prof-{n}","a":{{"vns":["{pool[n % len(pool)]}"],'
        f'"numbers":["98{n:08d}"],"pin_length":6}},"b":{{"numbers":["99{n:08d}"]}},'
        f'"usage":"twoway"}}'
    ).encode()


async def run_op(driver: Driver, op: str, count: int, start: int, ids: list[str]) -> list[str]:
    """`count` requests of one operation; the ids of created allocations."""
    pool = vns()
    made: list[str] = []
    for i in range(count):
        if op == "create":
            status, body = await driver.request("POST", PATH, create_body(start + i, pool))
            if status == 200:
                made.append(json.loads(body)["data"]["greenpin_id"])
        elif op == "get":
            status, body = await driver.request("GET", f"{PATH}/{ids[i % len(ids)]}")
        else:
            status, body = await driver.request("DELETE", f"{PATH}/{ids[i]}")
        if status != 200:
            raise SystemExit(f"{op} answered {status}: {body[:300]!r}")
    return made


def bucket(filename: str) -> str:
    if "mock_server" in filename:
        part = filename.split("mock_server/", 1)[1]
        return "mock_server/" + part
    for name in ("starlette", "phonenumbers", "jsonschema_rs", "anyio", "uvicorn"):
        if f"/{name}/" in filename:
            return name
    if filename.startswith("~") or filename == "{built-in}":
        return "(built-ins: str, dict, re, ...)"
    if "/json/" in filename:
        return "json"
    return "(other stdlib)"


def profile_summary(stats: pstats.Stats, top: int) -> str:
    by_bucket: dict[str, float] = defaultdict(float)
    total = 0.0
    raw = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        by_bucket[bucket(filename)] += tottime
        total += tottime
    lines = ["own time by package/module:"]
    for name, seconds in sorted(by_bucket.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {seconds / total:6.1%}  {name}")
    return "\n".join(lines)


def per_request(label: str, seconds: float, count: int) -> str:
    return f"{label:<24} {seconds / count * 1e6:8.1f} µs/request  ({count} requests)"


async def timed(driver: Driver, op: str, count: int, start: int, ids: list[str]) -> float:
    t0 = time.perf_counter()
    await run_op(driver, op, count, start, ids)
    return time.perf_counter() - t0


async def main_async(args: argparse.Namespace) -> None:
    from ceiling_app import app as ceiling_app

    from mock_server.app import create_app

    mock = Driver(create_app())
    if not args.no_gc_tuning:
        # What the app's lifespan does when it is served (this driver does not run lifespans).
        try:
            from mock_server import gc_tuning
        except ImportError:
            pass
        else:
            gc_tuning.install()
    ceiling = Driver(ceiling_app)
    n = args.count
    # Warm both, and make the allocations get and delete need.
    ids = await run_op(mock, "create", n * 2 + 500, 0, [])
    await run_op(ceiling, "create", 500, 0, ids)
    gets, deletes = ids[:n], ids[n:]

    if args.gc:
        if args.freeze:
            # What a `gc.freeze()` at the end of the mock's start-up would do: the objects that
            # live as long as the process (spec, schemas, phone-number metadata, code) move to
            # the permanent generation, which full collections no longer walk.
            gc.collect()
            gc.freeze()
            print(f"gc.freeze(): {gc.get_freeze_count():,} objects frozen")
        await gc_report(mock, n, gets, deletes)
        return
    if args.cprofile:
        op = args.cprofile
        profiler = cProfile.Profile()
        target = {"create": [], "get": gets, "delete": deletes}[op]
        profiler.enable()
        await run_op(mock, op, n, 10_000_000, target)
        profiler.disable()
        stats = pstats.Stats(profiler)
        print(profile_summary(stats, args.top))
        print()
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)
        return
    start = 1_000_000
    for op, target in (("create", []), ("get", gets), ("delete", deletes)):
        m = await timed(mock, op, n, start, target)
        c = await timed(ceiling, op, n, start, target)
        start += n
        print(per_request(f"mock {op}", m, n))
        print(per_request(f"ceiling {op}", c, n))
        print(f"{'':<24} mock's own work: {(m - c) / n * 1e6:.1f} µs/request")


async def gc_report(driver: Driver, n: int, gets: list[str], deletes: list[str]) -> None:
    pauses: dict[int, list[float]] = defaultdict(list)
    started: list[float] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        else:
            pauses[info["generation"]].append(time.perf_counter() - started.pop())

    tracked = len(gc.get_objects())
    print(f"objects tracked by the collector before the run: {tracked:,}")
    gc.callbacks.append(callback)
    try:
        start = 20_000_000
        for op, target in (("create", []), ("get", gets), ("delete", deletes)):
            pauses.clear()
            t0 = time.perf_counter()
            await run_op(driver, op, n, start, target)
            wall = time.perf_counter() - t0
            start += n
            spent = sum(sum(v) for v in pauses.values())
            print(
                f"{op}: {n} requests, {wall:.2f} s, of which GC {spent:.3f} s"
                f" ({spent / wall:.0%})"
            )
            for generation in sorted(pauses):
                laps = pauses[generation]
                print(
                    f"  generation {generation}: {len(laps):5d} collections,"
                    f" total {sum(laps) * 1000:8.1f} ms, longest {max(laps) * 1000:6.1f} ms"
                )
    finally:
        gc.callbacks.remove(callback)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=5000, help="requests per operation")
    parser.add_argument("--cprofile", choices=["create", "get", "delete"])
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--gc", action="store_true", help="collector pauses per operation")
    parser.add_argument(
        "--freeze", action="store_true", help="with --gc: gc.freeze() after start-up first"
    )
    parser.add_argument(
        "--no-gc-tuning",
        action="store_true",
        help="leave the collector as it is (a served mock installs mock_server.gc_tuning)",
    )
    args = parser.parse_args(argv)
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
