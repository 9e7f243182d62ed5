"""Driving wrk: its runs, their figures, and what else used the CPU meanwhile."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .common import CREDENTIALS, DEFAULT_CONFIG, GREENPIN_PATH, LUA, TENANT, UUID, log
from .servers import Server, pinned


@dataclass
class WrkResult:
    label: str
    requests: int
    seconds: float
    errors: dict[str, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    cpu: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    rounds: list[WrkResult] = field(default_factory=list)
    # (percentile, milliseconds) points of the latency distribution, up to the maximum.
    distribution: list[tuple[float, float]] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def valid(self) -> bool:
        return self.requests > 0 and self.error_count == 0 and not self.problems

    def summary(self) -> str:
        errors = ", ".join(f"{k} {v}" for k, v in self.errors.items() if v) or "none"
        note = "" if self.valid else "  INVALID: " + "; ".join(self.problems or ["errors"])
        cpu = self.cpu
        steal = f", steal {cpu['steal']:.0%}" if cpu and cpu["steal"] > 0.01 else ""
        load = (
            f"; CPU: server {cpu['server']:.0%}, wrk {cpu['wrk']:.0%},"
            f" other processes {cpu['other']:.0%}{steal}"
            if cpu
            else ""
        )
        return (
            f"{self.label}: {self.rps:,.0f} req/s, p50 {self.p50_ms:.2f} ms,"
            f" p99 {self.p99_ms:.2f} ms, {self.requests} requests,"
            f" non-2xx/socket errors: {errors}{load}{note}"
        )

    @property
    def disturbed(self) -> bool:
        """Whether other processes took a tenth of a core or more during the run."""
        return bool(self.cpu) and self.cpu["other"] + self.cpu["steal"] >= 0.10

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seconds": self.seconds,
            "requests_per_second": self.rps,
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "errors": self.errors,
            "cpu_share_of_one_core": self.cpu,
            "valid": self.valid,
            "problems": self.problems,
            "latency_distribution_ms": self.distribution,
            "rounds": [r.as_json() for r in self.rounds],
        }


@dataclass
class Quiet:
    """Waits, before a measured run, until other processes leave the machine alone, within a
    budget per run and one for the whole benchmark (a shared machine may never be quiet)."""

    per_run: float
    budget: float
    threshold: float = 0.10  # of one core
    waited: float = 0.0

    def wait(self, server: Server, label: str) -> None:
        limit = min(self.per_run, self.budget - self.waited)
        started = time.monotonic()
        calm = 0
        said = False
        while time.monotonic() - started < limit:
            before = CpuSample.take(server)
            time.sleep(0.2)
            cpu = CpuSample.take(server).since(before)
            busy = cpu["other"] + cpu["wrk"] + cpu["steal"] + cpu["server"]
            if busy < self.threshold:
                calm += 1
                # Quiet at once, or quiet for a second after having been busy.
                if not said or calm >= 5:
                    break
            else:
                calm = 0
                if not said:
                    log(f"  waiting for other processes ({busy:.0%} of a core busy) before {label}")
                    said = True
        self.waited += time.monotonic() - started


@dataclass
class Wrk:
    cpu: int | None
    threads: int
    connections: int
    workdir: Path
    quiet: Quiet | None = None

    def run(
        self,
        label: str,
        server: Server,
        script: str,
        seconds: int,
        args: Sequence[str],
        measured: bool = True,
    ) -> WrkResult:
        url = server.url
        if measured and self.quiet is not None:
            self.quiet.wait(server, label)
        command = pinned(
            self.cpu,
            [
                "wrk",
                f"-t{self.threads}",
                f"-c{self.connections}",
                f"-d{seconds}s",
                "--timeout", "10s",
                "-s", str(LUA / script),
                url,
                "--",
                *args,
            ],
        )  # fmt: skip
        before = CpuSample.take(server)
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        cpu = CpuSample.take(server).since(before)
        safe = re.sub(r"[^A-Za-z0-9]+", "_", label)
        (self.workdir / f"wrk_{safe}.txt").write_text(done.stdout + done.stderr)
        line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
        if done.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({done.returncode}) for {label}: {done.stderr[-500:]}")
        raw = json.loads(line.removeprefix("BENCH_JSON "))
        lat = raw["latency_us"]
        return WrkResult(
            label=label,
            requests=raw["requests"],
            seconds=raw["duration_us"] / 1e6,
            errors=raw["errors"],
            p50_ms=lat["p50"] / 1000,
            p90_ms=lat["p90"] / 1000,
            p99_ms=lat["p99"] / 1000,
            max_ms=lat["max"] / 1000,
            cpu=cpu,
            distribution=[(p, us / 1000) for p, us in lat.get("percentiles", [])]
            + [(100.0, lat["max"] / 1000)],
        )


@dataclass
class CpuSample:
    """CPU time (in seconds) of the machine, the server and this script's finished children
    (wrk), so that a run can tell how busy its server was and whether anything else ran."""

    wall: float
    machine_busy: float
    machine_steal: float
    server: float
    children: float

    @classmethod
    def take(cls, server: Server) -> CpuSample:
        import resource

        tick = os.sysconf("SC_CLK_TCK")
        busy = steal = 0.0
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
            # user nice system idle iowait irq softirq steal
            busy = (fields[0] + fields[1] + fields[2] + fields[5] + fields[6]) / tick
            steal = fields[7] / tick
        own = 0.0
        if server.process is not None:
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{server.process.pid}/stat").read_text()
                after_name = stat.rsplit(")", 1)[1].split()
                own = (int(after_name[11]) + int(after_name[12])) / tick
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return cls(time.monotonic(), busy, steal, own, usage.ru_utime + usage.ru_stime)

    def since(self, before: CpuSample) -> dict[str, float]:
        """Shares of one core over the interval: the server's, wrk's, everything else's."""
        wall = self.wall - before.wall or 1e-9
        server = (self.server - before.server) / wall
        client = (self.children - before.children) / wall
        busy = (self.machine_busy - before.machine_busy) / wall
        return {
            "server": server,
            "wrk": client,
            "other": max(0.0, busy - server - client),
            "steal": (self.machine_steal - before.machine_steal) / wall,
        }


def lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_data(path: Path, vns: Sequence[str], ids: Sequence[str]) -> Path:
    """The Lua data file the wrk scripts load: path, credentials, VNs, allocation ids."""
    auth = "Basic " + base64.b64encode(":".join(CREDENTIALS).encode()).decode()
    parts = [
        "return {",
        f"  path = {lua_string(GREENPIN_PATH)},",
        f"  auth = {lua_string(auth)},",
        "  vns = {" + ", ".join(lua_string(v) for v in vns) + "},",
        "  ids = {",
    ]
    parts.extend(f"    {lua_string(i)}," for i in ids)
    parts.append("  },")
    parts.append("}")
    path.write_text("\n".join(parts) + "\n")
    return path


def read_ids(prefix: Path, threads: int) -> list[str]:
    """The greenpin_ids the create script recorded (complete lines only), and removes the files."""
    ids: list[str] = []
    for tid in range(threads):
        part = prefix.with_name(f"{prefix.name}.{tid}")
        if part.exists():
            ids.extend(x for x in part.read_text().split("\n") if UUID.match(x))
            part.unlink()
    return ids


def default_vns() -> list[str]:
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    return [n["number"] for n in config["tenants"][TENANT]["numbers"]]
