"""How the mock is served: uvicorn, with the limits on connections that an ASGI app cannot
enforce itself because it sees a request only once its headers are whole.

uvicorn's httptools protocol reads headers of any size, for any time, on any number of
connections. `limited_protocol` makes a subclass that counts a request's header bytes before
the parser sees them (431 beyond `max_header_bytes`), counts its fields (431 beyond
`max_headers`), gives the headers `header_timeout_seconds` (then 408) and the body
`body_timeout_seconds`, and keeps the open connections under `capacity`: when full, a new
connection displaces the one that has waited longest for its request's headers (an idle
keep-alive connection first of all), so connections that never finish a request cannot lock
out the ones that do.
"""

from __future__ import annotations

import asyncio
import json
import resource
import socket
from typing import Any

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .routes.refusals import refusal_body
from .settings import ConnectionLimits, Settings

# Descriptors kept apart from client connections: outgoing callback and Connect requests (one
# per worker, and as many again kept alive), the state file, its lock, the event loop; at most a
# quarter of the limit.
RESERVED_PER_WORKER = 2
RESERVED_FIXED = 64

# How long, and for how many bytes, a refused connection is still read (what it sends dropped)
# before it is closed.
LINGER_SECONDS = 2.0
LINGER_BYTES = 4 << 20
# The rest of a body answered before its end (413) is read and dropped up to this much, so that
# an ordinary client sending a few MB sees its 413; a longer one is cut off.
UNREAD_BODY_BYTES = 16 << 20

STATUS_TEXT = {408: "Request Timeout", 431: "Request Header Fields Too Large"}


class RequestRefused(Exception):
    """Raised inside a parser callback: the request is answered `status` and the connection
    closed (the parser stops at the exception)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    limits: ConnectionLimits = ConnectionLimits()
    capacity: int = 1024
    # This server's connections that wait for a request's headers, oldest first, and those
    # refused and about to close: the ones a new connection may displace.
    awaiting: dict[LimitedHttpToolsProtocol, None] = {}
    lingering: dict[LimitedHttpToolsProtocol, None] = {}

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._timer: asyncio.TimerHandle | None = None
        self._header_fields = 0
        self._refused = False
        self._dropped = 0
        self._url_whole = False
        self.url = b""  # uvicorn sets it only when a request begins
        self._expect_headers()
        self._await_request()
        if len(self.connections) > self.capacity:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self.awaiting.pop(self, None)
        self.lingering.pop(self, None)
        self._cancel_timer()
        super().connection_lost(exc)

    # -- reading ---------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._refused:
            self._dropped += len(data)
            if self._dropped > LINGER_BYTES:
                self._close()  # not a client that waits for its answer
            return
        if self.parser is None or self.transport.is_closing():
            return
        if not self._reading_headers:
            self._feed(data)
            return
        room = self.limits.max_header_bytes - self._header_bytes
        if len(data) <= room:
            self._header_bytes += len(data)
            self._feed(data)
            return
        # Past the limit unless the headers end within what is left of it.
        head, rest = data[:room], data[room:]
        self._header_bytes += len(head)
        self._feed(head)
        if self.transport.is_closing() or self._refused:
            return
        if self._reading_headers:
            self._refuse(431, f"the request line and headers exceed "
                              f"{self.limits.max_header_bytes} bytes")
            return
        self.data_received(rest)

    def _feed(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
            if self._reading_headers and b"\n" in data and self.url:
                self._url_whole = True  # for the envelope of a refusal
        except httptools.HttpParserUpgrade:
            # The mock speaks plain HTTP only; the request is served as it is.
            self._unsupported_upgrade_warning()
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, RequestRefused):
                self._refuse(exc.__context__.status, exc.__context__.reason)
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")

    # -- parser and response callbacks -----------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_fields = 0
        self._dropped = 0
        self._url_whole = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self._url_whole = True
        self._header_fields += 1
        if self._header_fields > self.limits.max_headers:
            raise RequestRefused(431, f"more than {self.limits.max_headers} header fields")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self.awaiting.pop(self, None)
        self._cancel_timer()
        super().on_headers_complete()
        if not self.transport.is_closing():
            self._timer = self.loop.call_later(
                self.limits.body_timeout_seconds, self._body_too_slow
            )

    def on_body(self, body: bytes) -> None:
        if self.cycle is not None and self.cycle.response_complete:
            # Answered before its body ended (a refusal): the rest is dropped, up to a point.
            self._dropped += len(body)
            if self._dropped > UNREAD_BODY_BYTES:
                self._close()
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._cancel_timer()
        super().on_message_complete()
        # The next request's bytes count as headers from here; its time starts once this
        # request is answered (an answer may take its time).
        self._expect_headers()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._reading_headers and not self.transport.is_closing():
            self._await_request()

    # -- limits ----------------------------------------------------------------------------------

    def _expect_headers(self) -> None:
        self._reading_headers = True
        self._header_bytes = 0

    def _await_request(self) -> None:
        """Start the time for the next request's headers; until they are whole, this
        connection may be displaced by a new one."""
        self.awaiting.pop(self, None)
        self.awaiting[self] = None
        self._cancel_timer()
        self._timer = self.loop.call_later(
            self.limits.header_timeout_seconds, self._headers_too_slow
        )

    def _headers_too_slow(self) -> None:
        self._timer = None
        if self._header_bytes:
            # What it sent so far was read: closing at once resets nothing.
            self._refuse(408, f"the headers did not arrive within "
                              f"{self.limits.header_timeout_seconds:g} s", linger=False)
        else:
            # Nothing asked yet (a new or an idle keep-alive connection): just closed.
            self._close()

    def _body_too_slow(self) -> None:
        self._timer = None
        # The app is reading the body: it sees the client gone and answers nothing.
        self._close()

    def _make_room(self) -> None:
        """Close a refused connection, or else the one that has waited longest with part of a
        request's headers, or else the one that has waited longest with nothing (this one, if
        no other waits). A new client's request may not have been read yet: a connection that
        stalls half-way goes before it."""
        for victim in self.lingering:
            victim._close()
            return
        fallback = None
        for waiting in self.awaiting:
            if waiting is self:
                continue
            if waiting._header_bytes:
                waiting._close()
                return
            fallback = fallback or waiting
        (fallback or self)._close()

    def _refuse(self, status: int, reason: str, *, linger: bool = True) -> None:
        """Answer `status` and close, after a while: a socket closed with unread bytes sends a
        reset, which would make the client lose the answer while it is still sending. What
        comes meanwhile is read and dropped."""
        path = self.url.split(b"?", 1)[0].decode("latin-1") if self._url_whole else ""
        method = self.parser.get_method().decode("latin-1") if self._url_whole else ""
        body = json.dumps(refusal_body(method, path, status, reason)).encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s"
            % (status, STATUS_TEXT[status].encode(), len(body), body)
        )
        if not linger:
            self._close()
            return
        self._refused = True
        self.awaiting.pop(self, None)
        self.lingering[self] = None
        self._cancel_timer()
        self._timer = self.loop.call_later(LINGER_SECONDS, self._close)

    def eof_received(self) -> None:
        if self._refused:
            self._close()  # the client has sent all it will: closed without a reset

    def _close(self) -> None:
        self.awaiting.pop(self, None)
        self.lingering.pop(self, None)
        self._cancel_timer()
        if not self.transport.is_closing():
            self.transport.close()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def limited_protocol(limits: ConnectionLimits, capacity: int) -> type[LimitedHttpToolsProtocol]:
    """A protocol class for one server: its own limits and its own list of waiting
    connections."""
    return type(
        "LimitedHttpToolsProtocol",
        (LimitedHttpToolsProtocol,),
        {"limits": limits, "capacity": capacity, "awaiting": {}, "lingering": {}},
    )


def open_file_limit(*, raise_to_hard: bool) -> int:
    """The soft limit on open files; with `raise_to_hard`, raised to the hard limit first where
    it is lower (as a server that owns its process does)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if raise_to_hard and hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def capacity(settings: Settings, open_files: int) -> int:
    """Client connections served at once: the configured number, kept below what the open-file
    limit leaves after the descriptors the mock needs for itself."""
    reserved = min(RESERVED_FIXED + RESERVED_PER_WORKER * settings.callbacks.workers,
                   open_files // 4)
    return max(8, min(settings.connections.max_connections, open_files - reserved))


def uvicorn_config(
    app: Any, settings: Settings, *, host: str, port: int, own_process: bool = False,
    **options: Any,
) -> uvicorn.Config:
    """uvicorn's configuration for serving `app` with the limits of `settings` (`own_process`:
    the server owns its process and may raise its open-file limit)."""
    open_files = open_file_limit(raise_to_hard=own_process)
    protocol = limited_protocol(settings.connections, capacity(settings, open_files))
    return uvicorn.Config(
        app, host=host, port=port, http=protocol, ws="none", loop="auto", **options
    )


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host and port (port 0: any free one)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(2048)
    except OSError:
        listener.close()
        raise
    listener.set_inheritable(True)
    return listener
