"""The in-process scale check and the contract suite's wall time."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .common import BENCH, ROOT, log
from .servers import Server
from .wrk import CpuSample


def run_scale(args: argparse.Namespace, report: dict[str, Any]) -> None:
    command = [
        sys.executable,
        str(BENCH / "scale.py"),
        "--small", str(args.scale_small),
        "--large", str(args.scale_large),
        "--creates", str(args.scale_creates),
        "--gets", str(args.scale_gets),
        "--populate", args.populate,
    ]  # fmt: skip
    log(f"scale: {args.scale_small:,} vs {args.scale_large:,} allocations, in-process")
    nobody = Server("scale", [], 0, Path(os.devnull))
    if args.quiet is not None:
        args.quiet.wait(nobody, "the scale check")
    before = CpuSample.take(nobody)
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    cpu = CpuSample.take(nobody).since(before)
    if done.returncode != 0:
        report["scale"] = {"error": done.stderr.strip().splitlines()[-1:]}
        log(f"scale: failed: {done.stderr[-800:]}")
        return
    report["scale"] = json.loads(done.stdout)
    report["scale"]["wall_s"] = time.monotonic() - started
    # The child's CPU counts as "wrk" (finished children): the rest is other processes'.
    report["scale"]["other_cpu"] = cpu["other"] + cpu["steal"]
    s = report["scale"]
    log(
        f"  create {s['small']['create']['mean_us']:.1f} -> {s['large']['create']['mean_us']:.1f}"
        f" us, get {s['small']['get']['mean_us']:.2f} -> {s['large']['get']['mean_us']:.2f} us,"
        f" {s['memory']['bytes_per_allocation']:.0f} B/allocation,"
        f" populated in {s['large']['populate_s']:.1f} s"
    )


def run_contract(report: dict[str, Any]) -> None:
    command = [sys.executable, "-m", "pytest", "contract_tests", "-q", "-p", "no:cacheprovider"]
    log("contract suite: " + " ".join(command[1:]))
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    lines = [x for x in done.stdout.splitlines() if x.strip()]
    outcome = lines[-1].strip("= ") if lines else "no output"
    report["contract"] = {"wall_s": wall, "exit_code": done.returncode, "outcome": outcome}
    log(f"  {wall:.1f} s: {outcome} (exit {done.returncode})")
