"""The HTTP part: create, get and delete against the mock and the ceiling."""

from __future__ import annotations

import argparse
import base64
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import (
    BENCH,
    CREDENTIALS,
    GREENPIN_PATH,
    OFFSET_FILL,
    OFFSET_MEASURE,
    OFFSET_WARMUP,
    ROUND_OFFSET,
    WARM_DELETES,
    log,
)
from .servers import Server, free_port, pinned, serving, uvicorn_command
from .wrk import Wrk, WrkResult, default_vns, read_ids, write_data


@dataclass
class HttpPlan:
    duration: int
    warmup: int
    round_seconds: int
    vns: list[str]
    workdir: Path
    wrk: Wrk


def fraction_below(distribution: list[tuple[float, float]], ms: float) -> float:
    """The share of a run's requests answered within `ms`, read off its percentile points
    (linear between them)."""
    previous_p, previous_ms = 0.0, 0.0
    for p, at in distribution:
        if ms < at:
            if at == previous_ms:
                return previous_p / 100
            return (previous_p + (p - previous_p) * (ms - previous_ms) / (at - previous_ms)) / 100
        previous_p, previous_ms = p, at
    return 1.0


def pooled_percentile(rounds: list[WrkResult], percentile: float) -> float:
    """The latency under which `percentile` % of all the rounds' requests were answered,
    estimated from each round's percentile points, weighted by its requests."""
    total = sum(r.requests for r in rounds)
    if not total or not all(r.distribution for r in rounds):
        return max(r.p99_ms for r in rounds) if percentile >= 99 else rounds[0].p50_ms
    low, high = 0.0, max(r.max_ms for r in rounds)
    for _ in range(60):
        middle = (low + high) / 2
        answered = sum(r.requests * fraction_below(r.distribution, middle) for r in rounds)
        if answered >= total * percentile / 100:
            high = middle
        else:
            low = middle
    return high


def combine(label: str, rounds: list[WrkResult]) -> WrkResult:
    """One figure from several rounds: requests over time, errors summed, latency percentiles
    of all the rounds' requests together (estimated from each round's percentiles), CPU shares
    weighted by time."""
    seconds = sum(r.seconds for r in rounds)
    cpu: dict[str, float] = {}
    if all(r.cpu for r in rounds):
        for key in rounds[0].cpu:
            cpu[key] = sum(r.cpu[key] * r.seconds for r in rounds) / seconds
    errors = {k: sum(r.errors.get(k, 0) for r in rounds) for k in rounds[0].errors}
    return WrkResult(
        label=label,
        requests=sum(r.requests for r in rounds),
        seconds=seconds,
        errors=errors,
        p50_ms=pooled_percentile(rounds, 50),
        p90_ms=pooled_percentile(rounds, 90),
        p99_ms=pooled_percentile(rounds, 99),
        max_ms=max(r.max_ms for r in rounds),
        cpu=cpu,
        problems=[p for r in rounds for p in r.problems],
        rounds=rounds,
    )


class Target:
    """One server under the HTTP benchmark."""

    def __init__(self, plan: HttpPlan, server: Server) -> None:
        self.plan = plan
        self.server = server
        self.name = server.name
        self.data = write_data(plan.workdir / f"{server.name}_vns.lua", plan.vns, [])
        self.ids_out = plan.workdir / f"{server.name}_ids"
        self.results: dict[str, WrkResult] = {}

    def create(
        self, label: str, seconds: int, offset: int, measured: bool = False
    ) -> tuple[WrkResult, list[str]]:
        """A create run; the ids of the allocations it created."""
        t = str(self.plan.wrk.threads)
        args = [str(self.data), str(offset), t, str(self.ids_out)]
        result = self.plan.wrk.run(
            f"{self.name} {label}", self.server, "create.lua", seconds, args, measured
        )
        if not result.valid:
            log("  " + result.summary())
        return result, read_ids(self.ids_out, self.plan.wrk.threads)

    def run(self, op: str, ids: list[str], seconds: int, label: str) -> WrkResult:
        data = write_data(self.plan.workdir / f"{self.name}_{op}.lua", [], ids)
        return self.plan.wrk.run(
            f"{self.name} {label}",
            self.server,
            f"{op}.lua",
            seconds,
            [str(data), str(self.plan.wrk.threads)],
        )


def measure_pair(plan: HttpPlan, mock: Server, ceiling: Server) -> dict[str, Any]:
    """create, get and delete against the mock and the ceiling, in alternating rounds (mock,
    ceiling, mock, ...) so that both see the machine in the same states: a virtual machine's
    speed drifts, from one minute to the next."""
    m, c = Target(plan, mock), Target(plan, ceiling)
    log(f"warm-up: creates for {plan.warmup} s on each server")
    _, ids = m.create("create warm-up", plan.warmup, OFFSET_WARMUP)
    c.create("create warm-up", plan.warmup, OFFSET_WARMUP)

    def alternate(op: str, seconds: int, mock_round: Any, ceiling_round: Any) -> None:
        count, length = rounds_of(seconds, plan.round_seconds)
        log(f"{op}: {count} rounds of {length} s on each server")
        mine: list[WrkResult] = []
        theirs: list[WrkResult] = []
        for index in range(count):
            mine.append(mock_round(index, length))
            theirs.append(ceiling_round(index, length))
        m.results[op] = combine(f"mock {op}", mine)
        c.results[op] = combine(f"ceiling {op}", theirs)
        log("  " + m.results[op].summary())
        log("  " + c.results[op].summary())

    def create_round(target: Target, index: int, length: int) -> WrkResult:
        offset = OFFSET_MEASURE + index * ROUND_OFFSET
        result, made = target.create(f"create #{index + 1}", length, offset, measured=True)
        if target is m:
            ids.extend(made)
        return result

    alternate(
        "create",
        plan.duration,
        lambda i, n: create_round(m, i, n),
        lambda i, n: create_round(c, i, n),
    )
    if not ids:
        raise RuntimeError("the mock created no allocation: nothing to get or delete")

    alternate(
        "get",
        plan.duration,
        lambda i, n: m.run("get", ids, n, f"get #{i + 1}"),
        lambda i, n: c.run("get", ids, n, f"get #{i + 1}"),
    )

    ids, seconds = plan_deletes(plan, m, ids)
    count, _ = rounds_of(seconds, plan.round_seconds)
    share = len(ids) // count

    def delete_round(index: int, length: int) -> WrkResult:
        # Each round deletes its own share of the ids. wrk builds one request it never sends
        # (to check the script), which takes an id; past its last id the script starts over:
        # more requests than that means an id was deleted twice.
        mine = ids[index * share : (index + 1) * share]
        result = m.run("delete", mine, length, f"delete #{index + 1}")
        if result.requests + 1 > len(mine):
            result.problems.append(
                f"round {index + 1} ran out of ids ({result.requests} requests, {len(mine)} ids)"
            )
        return result

    # The ceiling answers any id; its rounds are as long as the mock's, for parity.
    alternate(
        "delete",
        seconds,
        delete_round,
        lambda i, n: c.run("delete", ids, n, f"delete #{i + 1}"),
    )
    return {"mock": m.results, "ceiling": c.results}


def rounds_of(seconds: int, round_seconds: int) -> tuple[int, int]:
    """How many rounds of how many seconds make up a run of `seconds` (wrk takes whole
    seconds)."""
    length = max(1, min(round_seconds, seconds))
    return max(1, seconds // length), length


def warm_deletes(server: Server, ids: list[str]) -> int:
    """Deletes these ids one by one over one connection (a warm-up); how many failed."""
    import http.client

    auth = "Basic " + base64.b64encode(":".join(CREDENTIALS).encode()).decode()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    failed = 0
    try:
        for allocation_id in ids:
            connection.request(
                "DELETE", f"{GREENPIN_PATH}/{allocation_id}", headers={"Authorization": auth}
            )
            answer = connection.getresponse()
            answer.read()
            failed += answer.status != 200
    finally:
        connection.close()
    return failed


def plan_deletes(plan: HttpPlan, mock: Target, ids: list[str]) -> tuple[list[str], int]:
    """Ids for the mock's delete run, each to be deleted once, and the run's length in seconds.

    A delete is a get and more, so the get rate bounds the delete rate: the ids must last
    `duration` seconds at 1.1 times the get rate (rounds vary). More creates, for at most twice
    `duration` seconds, make up a shortfall; if the ids would still not last, the delete run is
    made shorter (and should it still run out, it is marked invalid)."""
    d = plan.duration
    warm, ids = ids[:WARM_DELETES], ids[WARM_DELETES:]
    log(f"mock: delete warm-up, {len(warm)} deletes one by one")
    failed = warm_deletes(mock.server, warm)
    if failed:
        log(f"  {failed} of the warm-up deletes failed")
    rate = 1.1 * mock.results["get"].rps
    needed = math.ceil(rate * d)
    if len(ids) < needed:
        create_rate = max(mock.results["create"].rps, 100.0)
        seconds = min(2 * d, max(1, math.ceil((needed - len(ids)) / create_rate * 1.1)))
        log(f"mock: {len(ids)} ids, a {d} s delete run may need up to {needed}")
        _, more = mock.create("create fill", seconds, OFFSET_FILL)
        ids.extend(more)
        log(f"  {len(more)} more ids")
    seconds = min(d, max(1, math.floor(len(ids) / rate)))
    if seconds < d:
        log(f"mock: the delete run is shortened to {seconds} s, for {len(ids)} ids")
    return ids, seconds


def run_http(args: argparse.Namespace, workdir: Path, report: dict[str, Any]) -> None:
    wrk = Wrk(args.client_cpu, args.threads, args.connections, workdir, args.quiet)
    plan = HttpPlan(args.duration, args.warmup, args.round_seconds, default_vns(), workdir, wrk)
    mock_port = free_port()
    # `exomock serve` itself (with its connection limits), or with --plain-http the same app
    # under uvicorn's own httptools protocol, to measure what the limits cost.
    command = (
        uvicorn_command("mock_server.app:create_app", mock_port, "--factory")
        if args.plain_http
        else [sys.executable, "-m", "mock_server", "serve", "--port", str(mock_port),
              "--log-level", "warning"]
    )
    mock = Server("mock", pinned(args.server_cpu, command), mock_port, workdir / "mock.log")
    ceiling_port = free_port()
    ceiling = Server(
        "ceiling",
        pinned(
            args.server_cpu,
            uvicorn_command("ceiling_app:app", ceiling_port, "--app-dir", str(BENCH)),
        ),
        ceiling_port,
        workdir / "ceiling.log",
    )
    # Both are served at once on the same core; the one not under load sits idle.
    with serving(mock), serving(ceiling):
        report["http"] = measure_pair(plan, mock, ceiling)
