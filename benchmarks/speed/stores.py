"""The stores part (`run.py --stores`): GreenPin creates and gets per second on the memory store
(one process) and on Redis with `--workers 1` and `--workers 2`, wrk on the same machine.

Nothing is pinned to a core: with two workers every core is meant to be used, so wrk, Redis and
the workers share the machine, as they would on a developer's laptop.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from mock_server.testing import redis_server

from .common import OFFSET_MEASURE, OFFSET_WARMUP, log
from .http_runs import HttpPlan, Target
from .servers import Server, free_port, serving
from .wrk import Wrk, WrkResult, default_vns


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
    if shutil.which("redis-server") is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    for workers in (1, 2):
        folder = Path(tempfile.mkdtemp(dir=workdir, prefix="redis-"))
        with redis_server(folder) as url:
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
