#!/usr/bin/env python3
"""The mock's performance figures, in one command.

    python benchmarks/run.py               # the full run, about 3 minutes
    python benchmarks/run.py --quick       # shorter runs and a smaller scale check, under 1 minute
    python benchmarks/run.py --duration 10 --skip-prism --json results.json
    python benchmarks/run.py --stores --skip-http --skip-prism --skip-scale --skip-contract

Measures, and prints as one markdown table at the end:

1. HTTP: GreenPin create, get and delete against the mock and against a bare Starlette app with
   fixed answers (`ceiling_app.py`, the stack's ceiling), with wrk -t1 -c16 on loopback; the
   servers pinned to one core, wrk to the other. Every run's error count is printed: a run with
   errors (connect/read/write/timeout, or a status of 400 and up) is not a valid figure.
2. Scale: the in-process cost of a create and a get with 1,000 and with 1,000,000 active
   allocations, memory per allocation, and the time to populate (`scale.py`).
3. The wall time of the contract suite against the mock.
4. Prism (`@stoplight/prism-cli`) on the same spec, with the same create script.

Needs wrk and taskset (Debian: `apt-get install wrk util-linux`), the project installed in the
Python that runs this script (uvicorn with uvloop and httptools), and for Prism
`npm install --prefix benchmarks/.prism @stoplight/prism-cli` (or `--install-prism`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from speed.common import log
from speed.http_runs import run_http
from speed.machine import code_version, machine_info
from speed.prism import run_prism
from speed.stores import run_stores
from speed.suites import run_contract, run_scale
from speed.table import render
from speed.wrk import (
    Quiet,
    WrkResult,
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Performance figures of the ExoBridge mock (see benchmarks/README.md).",
    )
    parser.add_argument(
        "--duration", type=int, help="seconds per operation and server (default 10; 2 quick)"
    )
    parser.add_argument("--warmup", type=int, help="seconds of warm-up before a run (default 1)")
    parser.add_argument("--quick", action="store_true", help="short runs, 100,000 for scale")
    parser.add_argument(
        "--round-seconds",
        type=int,
        help="length of the alternating mock/ceiling rounds a run is made of (default 2; 1 quick)",
    )
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--server-cpu", type=int, default=0, help="core for the servers")
    parser.add_argument("--client-cpu", type=int, default=1, help="core for wrk")
    parser.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    parser.add_argument("--scale-small", type=int, default=1000)
    parser.add_argument("--scale-large", type=int, help="default 1,000,000 (100,000 quick)")
    parser.add_argument("--scale-creates", type=int, help="timed creates per size (3000)")
    parser.add_argument("--scale-gets", type=int, default=20000, help="timed gets per size")
    parser.add_argument(
        "--populate",
        choices=["store", "domain"],
        default="domain",
        help="fill the scale check through GreenPins.create (default) or, about twice as fast,"
        " with MemoryStore.save",
    )
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument(
        "--plain-http", action="store_true",
        help="serve the mock under uvicorn's own httptools protocol, without exomock's "
        "connection limits",
    )
    parser.add_argument(
        "--stores", action="store_true",
        help="also measure creates and gets on the memory store and on Redis with --workers 1 "
        "and 2 (needs redis-server)",
    )
    parser.add_argument("--skip-prism", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-contract", action="store_true")
    parser.add_argument("--install-prism", action="store_true", help="npm install Prism if absent")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=15.0,
        help="before each measured run, wait up to this many seconds for other processes to go"
        " quiet (default 15, at most 60 in all; 5 and 10 with --quick; 0 not to wait)",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args(argv)
    args.duration = args.duration or (2 if args.quick else 10)
    args.warmup = args.warmup or 1
    args.round_seconds = args.round_seconds or (1 if args.quick else 2)
    args.scale_large = args.scale_large or (100_000 if args.quick else 1_000_000)
    args.scale_creates = args.scale_creates or (1000 if args.quick else 3000)
    wait_budget = 10.0 if args.quick else 60.0
    per_run = min(args.wait_idle, 5.0) if args.quick else args.wait_idle
    args.quiet = Quiet(per_run, wait_budget) if args.wait_idle > 0 else None
    if args.no_pin:
        args.server_cpu = args.client_cpu = None
    return args


def check_tools(args: argparse.Namespace) -> list[str]:
    missing = []
    if not args.skip_http or not args.skip_prism:
        if shutil.which("wrk") is None:
            missing.append("wrk (apt-get install wrk)")
        if args.server_cpu is not None and shutil.which("taskset") is None:
            missing.append("taskset (apt-get install util-linux), or run with --no-pin")
        for module in ("uvicorn", "uvloop", "httptools"):
            try:
                __import__(module)
            except ImportError:
                missing.append(f"the Python package {module} (pip install 'uvicorn[standard]')")
    return missing


def to_json(value: Any) -> Any:
    if isinstance(value, WrkResult):
        return value.as_json()
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    missing = check_tools(args)
    if missing:
        print("benchmarks: missing " + "; ".join(missing), file=sys.stderr)
        return 2
    started = time.monotonic()
    report: dict[str, Any] = {"machine": machine_info()}
    workdir = Path(tempfile.mkdtemp(prefix="exomock-bench-"))
    failed = False
    try:
        if not args.skip_http:
            try:
                run_http(args, workdir, report)
            except RuntimeError as exc:
                failed = True
                report.pop("http", None)
                log(f"HTTP benchmark failed: {exc}")
        if args.stores:
            try:
                run_stores(args, workdir, report)
            except RuntimeError as exc:
                failed = True
                log(f"stores benchmark failed: {exc}")
        if not args.skip_prism:
            try:
                run_prism(args, workdir, report)
            except RuntimeError as exc:
                report["prism"] = {"skipped": f"Prism could not run: {exc}"}
                log(report["prism"]["skipped"])
        if not args.skip_scale:
            run_scale(args, report)
        if not args.skip_contract:
            run_contract(report)
    finally:
        if args.keep or failed:
            log(f"logs and wrk output kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report["total_s"] = time.monotonic() - started
    final_code = code_version()
    if final_code != report["machine"]["mock code"]:
        report["machine"]["mock code"] += (
            f" at the start, {final_code} at the end: the code changed during the run, and the"
            " parts started later measured the newer code"
        )
    print(render(report, args))
    print(f"Total benchmark time: {report['total_s']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(to_json(report), indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
