"""One request to the handler, bounded as a whole: one deadline from connecting to the answer's
last byte, and at most a cap of the answer read.

httpx's timeouts bound each read, not the exchange: a handler that sends a byte every half
second never trips them. A timer shuts the exchange's socket down at the deadline instead, which
ends whatever read or write is waiting. The answer is read as a stream, as sent (never
decompressed), and cut at the cap, so an answer of any size costs at most the cap in memory.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["DELIVERY_ANSWER_CAP", "Answer", "bounded_request", "own_client"]

# How much of a delivery's answer is read: enough to show why it was refused.
DELIVERY_ANSWER_CAP = 64 * 1024
# The trace events that hand over a connection's stream (TLS wraps the socket in a new one).
_STREAM_OPENED = (".connect_tcp.complete", ".connect_unix_socket.complete",
                  ".start_tls.complete")


def own_client() -> httpx.Client:
    """The client the checks send with when the caller gives none. It keeps no connection
    between exchanges: the deadline learns an exchange's socket when it opens its connection."""
    return httpx.Client(follow_redirects=False,
                        limits=httpx.Limits(max_keepalive_connections=0))


@dataclass
class Answer:
    """What came back, as far as it came within the deadline."""

    status: int | None = None
    # At most the cap, as sent.
    content: bytes = b""
    # More than the cap came; the rest was not read.
    cut: bool = False
    encoding: str = "identity"
    error: str | None = None
    # Nothing answered the connection (nobody listens there).
    unreachable: bool = False
    elapsed: float = 0.0


class _Deadline:
    """Shuts the exchange's socket down once `seconds` have passed."""

    def __init__(self, seconds: float) -> None:
        self.passed = False
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpx's `trace` extension: keeps the socket of the connection once it is open."""
        if not event.endswith(_STREAM_OPENED):
            return
        stream = info.get("return_value")
        opened = stream.get_extra_info("socket") if stream is not None else None
        with self._lock:
            self._socket = opened
            passed = self.passed
        if passed:
            _shut(opened)

    def _expire(self) -> None:
        with self._lock:
            self.passed = True
            opened = self._socket
        _shut(opened)


def _shut(opened: socket.socket | None) -> None:
    if opened is None:
        return
    with contextlib.suppress(OSError):  # closed already: the exchange ended on its own
        opened.shutdown(socket.SHUT_RDWR)


def _read_capped(response: httpx.Response, cap: int) -> tuple[bytes, bool]:
    """The answer's first `cap` bytes, and whether more came."""
    content = bytearray()
    try:
        for chunk in response.iter_raw():
            content += chunk[: cap + 1 - len(content)]
            if len(content) > cap:
                return bytes(content[:cap]), True
    except httpx.StreamConsumed:  # an answer in memory already (a test's transport)
        whole = response.content
        return whole[:cap], len(whole) > cap
    return bytes(content), False


class _DeadlinePassed(Exception):
    pass


def _described(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def bounded_request(
    client: httpx.Client, method: str, url: str, *, headers: dict[str, str], body: bytes,
    deadline: float, cap: int, client_timeouts: bool = False,
) -> Answer:
    """Sends one request; the exchange ends at `deadline` seconds whatever the handler does.

    With `client_timeouts` (a client the caller gave, such as a Starlette `TestClient`, which has
    no socket to shut) that client's timeouts apply, and the answer is judged late afterwards.
    """
    answer = Answer()
    deadline_watch = _Deadline(deadline)
    started = time.perf_counter()
    try:
        with deadline_watch, client.stream(
            method, url, headers=headers, content=body or None,
            timeout=httpx.USE_CLIENT_DEFAULT if client_timeouts else deadline,
            extensions={"trace": deadline_watch.trace},
        ) as response:
            answer.status = response.status_code
            answer.encoding = response.headers.get("content-encoding", "identity").strip().lower()
            answer.content, answer.cut = _read_capped(response, cap)
            if deadline_watch.passed and not answer.cut:
                raise _DeadlinePassed  # the end of the answer may be the socket's shutdown
    except (httpx.HTTPError, _DeadlinePassed) as exc:
        if deadline_watch.passed or isinstance(exc, (httpx.TimeoutException, _DeadlinePassed)):
            whole = "whole " if answer.status is not None else ""
            answer.error = f"no {whole}answer within {deadline:g} s"
        else:
            answer.error = _described(exc)
        answer.unreachable = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
    answer.elapsed = time.perf_counter() - started
    return answer
