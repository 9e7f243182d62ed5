"""Hostile clients against a served mock; prints, for each attack, what the other clients saw
and how much memory the server took.

    python benchmarks/hostile.py            # the full sizes (about 1 minute)
    python benchmarks/hostile.py --small    # reduced sizes, as CI runs it (about 10 s)

Each attack gets a fresh `python -m mock_server serve` under an open-file limit of 1,024 (256
with --small), and four other clients that each make a request on a new connection, one after
another, for the whole attack (`/_mock/health` and a GreenPin listing in turn). The attacks:

- never-finished: 1,200 connections (300) that each send part of a request's headers and
  never the rest; each one the server closes is opened again at once;
- big-header: four clients each sending a 100 MB header (10 MB), over and over;
- big-body: four clients each sending a 300 MB body (30 MB) to `/_mock/clock/advance`, one with
  its length declared and one chunked, over and over;
- padded-credentials: 300 requests (60) whose `Authorization` is padded to 1 MiB, then 300 padded
  to 30 KB (each a different, wrong credential);
- alias-bomb: `exomock serve --config` of a 2 KB YAML file of nested aliases, while the other
  clients use a served mock; the RSS is that of the refused start.

Targets: the other clients' p99 under 500 ms with none failing, the server's peak RSS under
300 MB. The exit status is 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mock_server.testing import free_port  # noqa: E402

P99_TARGET = 0.5
RSS_TARGET_MB = 300
CLIENTS = 4
AUTH = ("demo_key", "demo_token")
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


@dataclass
class Sizes:
    open_files: int
    never_finished: int
    header_mb: int
    body_mb: int
    credentials: int
    seconds: float


FULL = Sizes(open_files=1024, never_finished=1200, header_mb=100, body_mb=300, credentials=300,
             seconds=8)
SMALL = Sizes(open_files=256, never_finished=300, header_mb=10, body_mb=30, credentials=60,
              seconds=1.0)


@dataclass
class Served:
    port: int
    process: subprocess.Popen[bytes]
    peak_rss_mb: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def served(open_files: int) -> Iterator[Served]:
    """The mock in its own process under an open-file limit; its peak RSS once it has ended."""
    port = free_port()

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    process = subprocess.Popen(
        [sys.executable, "-m", "mock_server", "serve", "--port", str(port)],
        cwd=ROOT, preexec_fn=limit, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    server = Served(port, process)
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(server.url + "/_mock/health", timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise SystemExit("the mock did not start") from None
            time.sleep(0.05)
    try:
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        server.peak_rss_mb = reap(process, 10)


def reap(process: subprocess.Popen[bytes], timeout: float) -> float:
    """Wait for `process` to end (killed after `timeout`); its peak RSS in MB, as the kernel
    counted it."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_maxrss / 1024
        if time.monotonic() > deadline:
            process.kill()
            deadline = float("inf")
        time.sleep(0.02)


@dataclass
class Others:
    """Clients that go on with ordinary requests during an attack."""

    url: str
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        paths = ["/_mock/health", "/v1/tenants/demo/greenpin?page_size=10"]
        n = 0
        # No connection kept alive: each request opens its own, as a new client would.
        client = httpx.Client(base_url=self.url, auth=AUTH, timeout=5,
                              limits=httpx.Limits(max_keepalive_connections=0))
        while not self.stop.is_set():
            path = paths[n % 2]
            n += 1
            started = time.monotonic()
            try:
                answer = client.get(path)
                if answer.status_code != 200:
                    self.failures.append(f"{path}: {answer.status_code}")
            except httpx.HTTPError as exc:
                self.failures.append(f"{path}: {type(exc).__name__}")
            self.latencies.append(time.monotonic() - started)

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("inf")


def during(url: str, attack: Callable[..., str], *args: object) -> tuple[Others, str]:
    """Run `attack(*args)` in a process of its own (so that it takes no time from the clients
    that measure) while CLIENTS other clients make requests to `url`."""
    others = Others(url)
    threads = [threading.Thread(target=others.run) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    try:
        with multiprocessing.get_context("fork").Pool(1) as pool:
            detail = pool.apply(attack, args)
    finally:
        others.stop.set()
        for t in threads:
            t.join()
    return others, detail


# -- attacks ---------------------------------------------------------------------------------

async def _hold(port: int, deadline: float, counts: dict[str, int]) -> None:
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            counts["refused"] += 1
            await asyncio.sleep(0.05)
            continue
        counts["opened"] += 1
        try:
            writer.write(b"GET /_mock/health HTTP/1.1\r\nHost: localhost\r\nX-Never: ")
            left = deadline - time.monotonic()
            await asyncio.wait_for(reader.read(), max(left, 0.01))
            counts["closed by the server"] += 1
        except (TimeoutError, OSError):
            pass
        finally:
            writer.close()


def never_finished(port: int, sizes: Sizes) -> str:
    counts = {"opened": 0, "closed by the server": 0, "refused": 0}
    deadline = time.monotonic() + sizes.seconds

    async def attack() -> None:
        await asyncio.gather(*(_hold(port, deadline, counts) for _ in range(sizes.never_finished)))

    asyncio.run(attack())
    return ", ".join(f"{v} {k}" for k, v in counts.items())


async def _stream(port: int, head: bytes, total: int, chunk: bytes) -> tuple[int, bytes]:
    """Send `head` then up to `total` bytes of `chunk`s; how many went and the answer's status
    line."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    try:
        writer.write(head)
        while sent < total:
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
    except OSError:
        pass
    try:
        status = (await asyncio.wait_for(reader.readline(), 5)).strip()
    except (TimeoutError, OSError):
        status = b"(no answer)"
    writer.close()
    return sent, status


def _repeat(port: int, sizes: Sizes, heads: list[bytes], total: int, chunk: bytes) -> str:
    deadline = time.monotonic() + sizes.seconds
    statuses: dict[bytes, int] = {}
    sent = 0

    async def client(head: bytes) -> None:
        nonlocal sent
        while time.monotonic() < deadline:
            n, status = await _stream(port, head, total, chunk)
            sent += n
            statuses[status] = statuses.get(status, 0) + 1

    async def attack() -> None:
        await asyncio.gather(*(client(h) for h in heads))

    asyncio.run(attack())
    answers = ", ".join(f"{n}x {s.decode(errors='replace')}" for s, n in statuses.items())
    return f"{sent / 1e6:.0f} MB offered; {answers}"


def big_header(port: int, sizes: Sizes) -> str:
    head = b"GET /_mock/health HTTP/1.1\r\nHost: localhost\r\nX-Big: "
    return _repeat(port, sizes, [head] * CLIENTS, sizes.header_mb * 1_000_000, b"a" * 65536)


def big_body(port: int, sizes: Sizes) -> str:
    total = sizes.body_mb * 1_000_000
    declared = (b"POST /_mock/clock/advance HTTP/1.1\r\nHost: localhost\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % total)
    chunked = (b"POST /_mock/clock/advance HTTP/1.1\r\nHost: localhost\r\n"
               b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"10000\r\n" + b" " * 65536 + b"\r\n"
    return _repeat(port, sizes, [declared, chunked] * (CLIENTS // 2), total, chunk)


def padded_credentials(port: int, sizes: Sizes) -> str:
    found: dict[int, int] = {}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        for pad in (1 << 20, 30_000):
            for i in range(sizes.credentials):
                value = "Basic " + f"{i:06d}".ljust(pad, "=")
                try:
                    code = client.get("/v1/tenants/demo/greenpin",
                                      headers={"authorization": value}).status_code
                except httpx.HTTPError:
                    code = 0
                found[code] = found.get(code, 0) + 1
    return ", ".join(f"{n}x {code or 'connection closed'}" for code, n in sorted(found.items()))


def alias_bomb() -> str:
    """What a start with the alias bomb said, then "|" and its peak RSS in MB."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bomb.yaml"
        path.write_text(BOMB)
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "mock_server", "serve", "--port", "0", "--config", str(path)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        rss = reap(process, 60)
        took = time.monotonic() - started
        assert process.stderr is not None
        message = process.stderr.read()
    first = message.decode(errors="replace").splitlines()[0][:90] if message else ""
    return f"exit {process.returncode} in {took:.2f} s, {len(message)} bytes said: {first}|{rss}"


# -- report ----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="reduced sizes, as CI runs it")
    args = parser.parse_args(argv)
    sizes = SMALL if args.small else FULL
    # The attacker holds more connections than the server may open files.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = sizes.never_finished + 256
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))

    attacks: list[tuple[str, Callable[[int, Sizes], str]]] = [
        (f"never-finished ({sizes.never_finished})", never_finished),
        (f"big-header ({sizes.header_mb} MB x{CLIENTS})", big_header),
        (f"big-body ({sizes.body_mb} MB x{CLIENTS})", big_body),
        (f"padded-credentials ({sizes.credentials} x2)", padded_credentials),
    ]
    print(f"open-file limit of the server: {sizes.open_files}; {CLIENTS} other clients, each "
          "request on a new connection\n")
    print("| attack | other clients: requests, failed, p50, p99 | server peak RSS | "
          "what the attacker saw |")
    print("|---|---|---|---|")
    missed = 0
    for name, attack in attacks:
        with served(sizes.open_files) as server:
            others, detail = during(server.url, attack, server.port, sizes)
        missed += _row(name, others, server.peak_rss_mb, detail)
    with served(sizes.open_files) as server:
        others, detail = during(server.url, alias_bomb)
    text, rss = detail.rsplit("|", 1)
    missed += _row("alias-bomb (2 KB config)", others, float(rss), text)
    print(f"\ntargets: p99 under {P99_TARGET * 1000:.0f} ms with no failure, peak RSS under "
          f"{RSS_TARGET_MB} MB: {'all met' if not missed else f'{missed} missed'}")
    return 1 if missed else 0


def _row(name: str, others: Others, rss_mb: float, detail: str) -> int:
    ok = others.p(0.99) < P99_TARGET and not others.failures and rss_mb < RSS_TARGET_MB
    failed = f"{len(others.failures)}" + (f" ({others.failures[0]})" if others.failures else "")
    print(f"| {name} | {len(others.latencies)}, {failed}, {others.p(0.5) * 1000:.1f} ms, "
          f"{others.p(0.99) * 1000:.1f} ms | {rss_mb:.0f} MB | {detail} |"
          + ("" if ok else " **missed**"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
