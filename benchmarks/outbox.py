"""Callback delivery under bursts, a kill -9, a stuck receiver and a bad URL; prints its figures.

    python benchmarks/outbox.py            # 10,000 callbacks in the burst (about 2 minutes)
    python benchmarks/outbox.py --quick    # 2,000

Every server is a real process on this machine: the mock (`python -m mock_server serve`) and a
receiver (`benchmarks/receiver_app.py` under uvicorn). The figures and their targets:

- burst: N `deallocation` callbacks due in one clock advance, to a receiver answering 200 at once:
  all delivered on their first attempt within 60 s; `GET /_mock/clock` p99 under 100 ms while
  they are delivered;
- restart: 1,000 deliveries pending at `kill -9`; after the restart the API answers within 2 s and
  all 1,000 reach the receiver;
- fairness: two tenants, one receiver stuck (one byte every 2 s), one normal: the normal
  tenant's 1,000 deliveries complete with p99 under 1 s from their due time;
- bad URL: a delivery to `http://[::1` ends `failed` within 1 s, with its reason.
"""

from __future__ import annotations

import argparse
import copy
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mock_server.settings import DEFAULT_CONFIG_PATH  # noqa: E402
from mock_server.testing import free_port  # noqa: E402

OTHER = {
    "credentials": [{"api_key": "other_key", "api_token": "other_token"}],
    "numbers": [{"number": "+918045671234", "region": "KA", "type": "landline"}],
}
AUTH = {"demo": ("demo_key", "demo_token"), "other": ("other_key", "other_token")}
VNS = {"demo": "+916292134464", "other": "+918045671234"}


def config(workdir: Path, demo_urls: dict[str, str] | None = None) -> Path:
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["tenants"]["other"] = copy.deepcopy(OTHER)
    if demo_urls:
        raw["tenants"]["demo"]["callback_urls"] = demo_urls
    path = workdir / f"config-{time.monotonic_ns()}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def wait_for(url: str, timeout: float = 20.0) -> float:
    """Seconds until `url` answers."""
    started = time.monotonic()
    while True:
        try:
            httpx.get(url, timeout=0.5)
            return time.monotonic() - started
        except httpx.TransportError:
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"{url} did not answer") from None
            time.sleep(0.01)


@contextmanager
def receiver() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(ROOT / "benchmarks"),
         "receiver_app:app", "--port", str(port), "--log-level", "warning",
         "--backlog", "4096", "--limit-concurrency", "100000"],
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/stats")
        yield base
    finally:
        process.kill()
        process.wait()


class Mock:
    def __init__(self, config_path: Path, state_file: Path | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "mock_server", "serve", "--port", str(self.port),
                   "--config", str(config_path), "--log-level", "warning"]
        if state_file is not None:
            command += ["--state-file", str(state_file)]
        self.started = time.monotonic()
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        self.ready_after = wait_for(self.base + "/_mock/clock")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)

    def create(self, tenant: str, count: int, duration: str = "1m") -> None:
        def batch(start: int) -> None:
            with httpx.Client(base_url=self.base, auth=AUTH[tenant], timeout=30) as client:
                for i in range(start, min(start + 500, count)):
                    answer = client.post(f"/v1/tenants/{tenant}/greenpin", json={
                        "transaction_id": f"{tenant}-{i}",
                        "a": {"numbers": [f"+9198{i:08d}"], "vns": [VNS[tenant]],
                              "pin_length": 6},
                        "b": {"numbers": [f"+9197{i:08d}"]},
                        "deallocation_policy": {"duration": duration},
                    })
                    answer.raise_for_status()

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(batch, range(0, count, 500)))

    def set_urls(self, tenant: str, urls: dict[str, str]) -> None:
        httpx.put(f"{self.base}/_mock/tenants/{tenant}/callback-urls", json=urls).raise_for_status()

    def summary(self) -> dict[str, int]:
        result: dict[str, int] = httpx.get(self.base + "/_mock/callbacks/summary").json()
        return result

    def advance(self, seconds: float) -> float:
        started = time.monotonic()
        httpx.post(self.base + "/_mock/clock/advance", json={"seconds": seconds},
                   timeout=120).raise_for_status()
        return time.monotonic() - started


def arrivals(base: str, path: str) -> dict[str, float]:
    found: dict[str, float] = httpx.get(base + "/stats", timeout=30).json()["arrivals"][path]
    return found


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else float("nan")


class ClockPoller:
    """GETs /_mock/clock every 10 ms on one connection, keeping each latency."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=60) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                client.get("/_mock/clock")
                self.latencies.append(time.perf_counter() - started)
                self._stop.wait(0.01)

    def __enter__(self) -> ClockPoller:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()


def burst(workdir: Path, count: int) -> list[str]:
    with receiver() as rx:
        mock = Mock(config(workdir))
        try:
            mock.create("demo", count)
            mock.set_urls("demo", {"deallocation": rx + "/ok"})
            advance_seconds = mock.advance(120)
            due = time.time()
            with ClockPoller(mock.base) as poller:
                deadline = time.monotonic() + 120
                while mock.summary()["delivered"] < count and time.monotonic() < deadline:
                    time.sleep(0.05)
                done = time.time()
            log = httpx.get(mock.base + "/_mock/callbacks", params={"event": "deallocation"},
                            timeout=60).json()["callbacks"]
        finally:
            mock.stop()
        got = arrivals(rx, "/ok")
    first = sum(1 for entry in log if entry["outcome"] == "delivered"
                and len(entry["attempts"]) == 1)
    return [
        f"| burst | {count:,} callbacks due in one advance (the advance itself took "
        f"{advance_seconds:.2f} s) | {len(got):,} received, {first / count:.1%} delivered on "
        f"the first attempt, all within {done - due:.1f} s | all on the first attempt within "
        "60 s |",
        f"| burst | `GET /_mock/clock` while they were delivered ({len(poller.latencies)} "
        f"requests) | p50 {statistics.median(poller.latencies) * 1000:.1f} ms, p99 "
        f"{percentile(poller.latencies, 0.99) * 1000:.1f} ms | p99 under 100 ms |",
    ]


def restart(workdir: Path, count: int = 1000) -> list[str]:
    state = workdir / f"state-{time.monotonic_ns()}.db"
    with receiver() as rx:
        path = config(workdir)
        mock = Mock(path, state)
        mock.create("demo", count)
        mock.set_urls("demo", {"deallocation": rx + "/hold"})
        mock.advance(120)
        time.sleep(0.5)
        pending = mock.summary()["pending"]
        mock.stop(signal.SIGKILL)
        httpx.post(rx + "/release")
        again = Mock(path, state)
        try:
            deadline = time.monotonic() + 60
            while len(arrivals(rx, "/hold")) < count and time.monotonic() < deadline:
                time.sleep(0.05)
            all_in = time.monotonic() - again.started
            received = len(arrivals(rx, "/hold"))
        finally:
            again.stop()
    return [
        f"| restart | {pending:,} deliveries pending at `kill -9`, then a restart | API "
        f"answered {again.ready_after:.2f} s after the start; {received:,} of {count:,} received "
        f"within {all_in:.1f} s of it | API within 2 s, all received |",
    ]


def fairness(workdir: Path, count: int = 1000) -> list[str]:
    # Two receivers, two destinations, as two tenants' webhook hosts would be.
    with receiver() as stuck, receiver() as rx:
        mock = Mock(config(workdir))
        try:
            mock.create("demo", count)
            mock.create("other", count)
            mock.set_urls("demo", {"deallocation": stuck + "/drip"})
            mock.set_urls("other", {"deallocation": rx + "/ok"})
            mock.advance(120)
            due = time.time()
            deadline = time.monotonic() + 60
            while len(arrivals(rx, "/ok")) < count and time.monotonic() < deadline:
                time.sleep(0.05)
            delays = [at - due for at in arrivals(rx, "/ok").values()]
            summary = mock.summary()
        finally:
            mock.stop()
    return [
        f"| fairness | {count:,} deliveries of a tenant whose receiver is stuck, {count:,} of "
        f"one whose receiver answers | the answered tenant's: {len(delays):,} received, p50 "
        f"{statistics.median(delays) * 1000:.0f} ms, p99 {percentile(delays, 0.99) * 1000:.0f} "
        f"ms from their due time; the stuck tenant's: {summary['in_flight']} in flight, "
        f"{summary['queued']:,} queued, {summary['failed']} failed | p99 under 1 s |",
    ]


def bad_url(workdir: Path) -> list[str]:
    mock = Mock(config(workdir, {"deallocation": "http://[::1"}))
    try:
        mock.create("demo", 1, duration="10s")
        started = time.monotonic()
        mock.advance(60)
        while True:
            [entry] = httpx.get(mock.base + "/_mock/callbacks",
                                params={"event": "deallocation"}).json()["callbacks"]
            if entry["outcome"] != "pending" or time.monotonic() - started > 10:
                break
            time.sleep(0.01)
        elapsed = time.monotonic() - started
    finally:
        mock.stop()
    return [
        f"| bad URL | a delivery to `http://[::1` | `{entry['outcome']}` after "
        f"{elapsed * 1000:.0f} ms: \"{entry['attempts'][-1]['error']}\" | failed within 1 s |",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 callbacks in the burst")
    parser.add_argument("--burst", type=int, help="callbacks in the burst (default 10,000)")
    args = parser.parse_args(argv)
    count = args.burst or (2000 if args.quick else 10_000)
    with tempfile.TemporaryDirectory(prefix="exomock-outbox-") as folder:
        workdir = Path(folder)
        rows = ["| case | what | measured | target |", "| --- | --- | --- | --- |"]
        for case in (lambda: burst(workdir, count), lambda: restart(workdir),
                     lambda: fairness(workdir), lambda: bad_url(workdir)):
            rows += case()
            print(rows[-1], file=sys.stderr, flush=True)
    print(f"\nOutbox on {os.cpu_count()} cores, Python {sys.version.split()[0]}:\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
