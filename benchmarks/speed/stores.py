"""The stores part (`run.py --stores`): GreenPin creates and gets per second on the memory store
(one process) and on Redis with `--workers 1` and `--workers 2`, wrk on the same machine.

Nothing is pinned to a core: with two workers every core is meant to be used, so wrk, Redis and
the workers share the machine, as they would on a developer's laptop.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .common import OFFSET_MEASURE, OFFSET_WARMUP, log
from .http_runs import HttpPlan, Target
from .servers import Server, free_port, serving
from .wrk import Wrk, WrkResult, default_vns


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A redis-server of its own on a free port, without persistence; its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    folder = Path(tempfile.mkdtemp(dir=workdir, prefix="redis-"))
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True,
                             check=False).stdout.strip() != b"PONG":
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _mock(name: str, workdir: Path, *options: str) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "mock_server", "serve", "--port", str(port),
               "--log-level", "warning", *options]
    return Server(name, command, port, workdir / f"{name}.log")


def _measure(plan: HttpPlan, server: Server) -> dict[str, WrkResult]:
    target = Target(plan, server)
    target.create("warm-up", plan.warmup, OFFSET_WARMUP)
    created, ids = target.create("create", plan.duration, OFFSET_MEASURE, measured=True)
    got = target.run("get", ids, plan.duration, "get")
    for result in (created, got):
        log("  " + result.summary())
    return {"create": created, "get": got}


def run_stores(args: argparse.Namespace, workdir: Path, report: dict[str, Any]) -> None:
    wrk = Wrk(None, args.threads, args.connections, workdir, None)
    plan = HttpPlan(args.duration, args.warmup, args.round_seconds, default_vns(), workdir, wrk)
    results: dict[str, dict[str, WrkResult]] = {}
    log("stores: memory, one process")
    with serving(_mock("memory", workdir)) as server:
        results["memory, 1 process"] = _measure(plan, server)
    for workers in (1, 2):
        with redis_server(workdir) as url:
            log(f"stores: Redis, --workers {workers}")
            server = _mock(f"redis{workers}", workdir, "--store", url, "--workers", str(workers))
            with serving(server):
                results[f"Redis, --workers {workers}"] = _measure(plan, server)
    report["stores"] = {
        name: {op: r.as_json() for op, r in runs.items()} for name, runs in results.items()
    }
    lines = [
        "",
        f"Stores (wrk -c{args.connections}, {plan.duration} s a run, nothing pinned):",
        "",
        "| store | creates/s | create p99 | gets/s | get p99 | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, runs in results.items():
        create, get = runs["create"], runs["get"]
        lines.append(
            f"| {name} | {create.rps:,.0f} | {create.p99_ms:.1f} ms | {get.rps:,.0f} | "
            f"{get.p99_ms:.1f} ms | {create.error_count + get.error_count} |"
        )
    print("\n".join(lines))
