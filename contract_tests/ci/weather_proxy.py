"""A transparent HTTP/1.1 proxy that brings a shared staging's weather to any server: throttling,
latency, answers of 503, dropped connections and lost answers.

Every request is forwarded byte for byte (method, target, every header, the body) on a fresh
connection to the upstream server, and its answer is returned byte for byte, unless the weather
decides otherwise. Rehearse a pipeline against the mock before pointing it at staging:

    python -m contract_tests.ci.weather_proxy --upstream http://127.0.0.1:8000 --port 8001 \\
        --throttle-every 5 --retry-after 1 --latency 0.05
    exomock check --base-url http://127.0.0.1:8001

In tests, `WeatherProxy(upstream, Weather(...))` is a context manager serving on a free port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit

HEAD_LIMIT = 1 << 20
THROTTLED_BODY = (b'{"success":false,"status":429,"code":10724,'
                  b'"message":"Too many requests","data":null}')
UNAVAILABLE_BODY = (b'{"success":false,"status":503,"code":null,'
                    b'"message":"Service unavailable","data":null}')


@dataclass(frozen=True)
class Weather:
    """What happens to the requests whose `METHOD /path?query` matches `affects`: by default
    every request but those to the mock's control plane (which a staging server does not have)."""

    throttle_every: int = 0  # every Nth request is answered 429 (0: never)
    retry_after: int | None = 1  # Retry-After of the 429 and 503 answers (None: no header)
    latency: float = 0.0  # seconds before each request is forwarded
    reset: float = 0.0  # share of requests whose connection is reset before they are forwarded
    unavailable: float = 0.0  # share of requests answered 503
    lose_answers: float = 0.0  # share forwarded, then the connection reset: the answer is lost
    # `METHOD /path` prefixes: the first request to each is forwarded and its answer lost, or
    # its connection reset before it is forwarded.
    lose_first_answer_to: tuple[str, ...] = ()
    reset_first_to: tuple[str, ...] = ()
    affects: str = r"^\S+ /(?!_mock/)"  # a regular expression searched in `METHOD /path?query`
    seed: int = 0


@dataclass
class _Message:
    head: bytes
    body: bytes
    first_line: str
    headers: list[tuple[str, str]]

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


async def _read_message(reader: asyncio.StreamReader, *, no_body: bool = False,
                        until_close: bool = False) -> _Message | None:
    """One HTTP/1.1 message, raw; None when the peer closed before sending one."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise
        return None
    lines = head.decode("latin-1").split("\r\n")
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:]
                                                       if line)]
    message = _Message(head, b"", lines[0], headers)
    if no_body:
        return message
    if (message.header("transfer-encoding") or "").lower().endswith("chunked"):
        message.body = await _read_chunks(reader)
    elif message.header("content-length") is not None:
        message.body = await reader.readexactly(int(message.header("content-length") or 0))
    elif until_close:
        message.body = await reader.read()
    return message


async def _read_chunks(reader: asyncio.StreamReader) -> bytes:
    """A chunked body with its framing, as sent (so that it is forwarded unchanged)."""
    raw = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        raw += size_line
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while True:  # trailers, then the empty line
                line = await reader.readuntil(b"\r\n")
                raw += line
                if line == b"\r\n":
                    return bytes(raw)
        raw += await reader.readexactly(size + 2)


def _canned(status: int, reason: str, body: bytes, retry_after: int | None) -> bytes:
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n")
    if retry_after is not None:
        head += f"retry-after: {retry_after}\r\n"
    return head.encode() + b"\r\n" + body


def _reset(writer: asyncio.StreamWriter) -> None:
    """Closes with a TCP reset, as a load balancer dropping the connection does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class WeatherProxy:
    def __init__(self, upstream: str, weather: Weather | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.weather = weather or Weather()
        self.host, self.port = host, port
        self.counts: Counter[str] = Counter()  # what the weather did, by kind
        self._random = random.Random(self.weather.seed)
        self._affects = re.compile(self.weather.affects)
        self._done_first: set[tuple[str, str]] = set()  # (lose or reset, prefix) done
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def _serve(self, started: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._connection, self.host, self.port,
                                            limit=HEAD_LIMIT)
        self.port = server.sockets[0].getsockname()[1]
        started.set()
        await self._stopping.wait()
        server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await server.wait_closed()

    def _decide(self, target: str) -> str:
        """What the weather does to this request: forward, throttle, unavailable, reset, lose."""
        weather = self.weather
        if not self._affects.search(target):
            return "forward"
        self.counts["affected"] += 1
        if weather.throttle_every and self.counts["affected"] % weather.throttle_every == 0:
            return "throttle"
        for kind, prefixes in (("lose", weather.lose_first_answer_to),
                               ("reset", weather.reset_first_to)):
            first = next((p for p in prefixes if target.startswith(p)), None)
            if first is not None and (kind, first) not in self._done_first:
                self._done_first.add((kind, first))
                self.counts[f"{kind} first"] += 1
                return kind
        draw = self._random.random()
        for kind, share in (("reset", weather.reset), ("unavailable", weather.unavailable),
                            ("lose", weather.lose_answers)):
            if draw < share:
                return kind
            draw -= share
        return "forward"

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while await self._exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass  # the proxy stops: asyncio's stream callback would log a cancelled handler
        finally:
            writer.transport.abort()
            self._connections.discard(task)

    async def _exchange(self, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> bool:
        """One request and its answer; False when the connection is over."""
        request = await _read_message(reader)
        if request is None:
            return False
        method, target, *_ = [*request.first_line.split(" "), "", ""]
        self.counts["requests"] += 1
        if self.weather.latency:
            await asyncio.sleep(self.weather.latency)
        decision = self._decide(f"{method} {target}")
        self.counts[decision] += 1
        if decision == "reset":
            _reset(writer)
            return False
        if decision in ("throttle", "unavailable"):
            status, reason, body = ((429, "Too Many Requests", THROTTLED_BODY)
                                    if decision == "throttle"
                                    else (503, "Service Unavailable", UNAVAILABLE_BODY))
            writer.write(_canned(status, reason, body, self.weather.retry_after))
            await writer.drain()
            return True
        answer = await self._forward(request, no_body=method == "HEAD")
        if decision == "lose":
            _reset(writer)
            return False
        writer.write(answer.head + answer.body)
        await writer.drain()
        closing = "close" in ((request.header("connection") or "")
                              + (answer.header("connection") or "")).lower()
        # An answer without a length ends when its connection does.
        delimited = (answer.header("content-length") is not None or method == "HEAD"
                     or (answer.header("transfer-encoding") or "").lower().endswith("chunked"))
        return delimited and not closing

    async def _forward(self, request: _Message, no_body: bool) -> _Message:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream, limit=HEAD_LIMIT)
        try:
            up_writer.write(request.head + request.body)
            await up_writer.drain()
            while True:  # interim (1xx) answers are not passed on
                answer = await _read_message(up_reader, no_body=True)
                if answer is None:
                    raise ConnectionError("the upstream server closed without answering")
                status = int(answer.first_line.split(" ")[1])
                if status >= 200:
                    break
            if not (no_body or status in (204, 304)):
                answer.body = await _read_body(up_reader, answer)
            return answer
        finally:
            up_writer.close()

    def __enter__(self) -> WeatherProxy:
        started = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(started),),
                                        name="weather-proxy", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the weather proxy did not start")
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(10)


async def _read_body(reader: asyncio.StreamReader, answer: _Message) -> bytes:
    if (answer.header("transfer-encoding") or "").lower().endswith("chunked"):
        return await _read_chunks(reader)
    length = answer.header("content-length")
    if length is not None:
        return await reader.readexactly(int(length))
    return await reader.read()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--upstream", required=True, help="the server's URL")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--throttle-every", type=int, default=0, metavar="N")
    parser.add_argument("--retry-after", type=int, default=1, metavar="SECONDS")
    parser.add_argument("--latency", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--reset", type=float, default=0.0, metavar="SHARE")
    parser.add_argument("--unavailable", type=float, default=0.0, metavar="SHARE")
    parser.add_argument("--lose-answers", type=float, default=0.0, metavar="SHARE")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    weather = Weather(throttle_every=args.throttle_every, retry_after=args.retry_after,
                      latency=args.latency, reset=args.reset, unavailable=args.unavailable,
                      lose_answers=args.lose_answers, seed=args.seed)
    with WeatherProxy(args.upstream, weather, args.host, args.port) as proxy:
        print(f"weather proxy on {proxy.url} -> {args.upstream}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
