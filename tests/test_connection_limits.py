"""Limits on what a connection may send before its request is refused (`serving.py`): header
bytes and fields, the time to send headers and body, and the number of open connections."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from mock_server.serving import uvicorn_config
from mock_server.settings import DEFAULT_CONFIG_PATH, Settings
from mock_server.testing import MockServer, free_port

from .helpers import in_thread

GET = b"GET /_mock/health HTTP/1.1\r\nHost: localhost\r\n"


@pytest.fixture(scope="module")
def settings() -> Settings:
    raw: dict[str, Any] = copy.deepcopy(yaml.safe_load(DEFAULT_CONFIG_PATH.read_text()))
    raw["limits"].update(header_timeout_seconds=0.5, body_timeout_seconds=0.5,
                         max_connections=8, max_header_bytes=8192, max_headers=20)
    raw["callbacks"]["workers"] = 4
    return Settings.from_mapping(raw)


@pytest.fixture(scope="module")
def mock(settings: Settings) -> Iterator[MockServer]:
    with MockServer(settings) as server:
        yield server


def connect(mock: MockServer) -> socket.socket:
    sock = socket.create_connection((mock.host, mock.port), timeout=5)
    return sock


def answer_of(sock: socket.socket, *, done: bool = False) -> bytes:
    """Everything the server sends until it closes the connection (`done`: after this side
    has said it sends nothing more)."""
    if done:
        sock.shutdown(socket.SHUT_WR)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def status_and_body(raw: bytes) -> tuple[int, Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


def test_headers_past_the_limit_are_refused_431_and_the_connection_closed(mock):
    with connect(mock) as sock:
        sock.sendall(GET + b"X-Padding: ")
        try:  # the server closes once past the limit: the rest of the megabyte may not go out
            for _ in range(128):
                sock.sendall(b"a" * 8192)
        except OSError:
            pass
        status, body = status_and_body(answer_of(sock, done=True))
    assert status == 431
    assert body == {"error": "the request line and headers exceed 8192 bytes"}
    assert httpx.get(mock.url("/_mock/health")).status_code == 200


def test_an_ordinary_client_sees_the_431_of_its_second_request(mock):
    with httpx.Client(base_url=mock.base_url) as client:
        assert client.get("/_mock/health").status_code == 200
        refused = client.get("/_mock/health", headers={"x-cookie": "c" * 40000})
        assert refused.status_code == 431
        assert refused.headers["connection"] == "close"
        assert client.get("/_mock/health").status_code == 200  # on a new connection


@pytest.mark.parametrize(("path", "envelope"), [
    ("/v1/tenants/demo/greenpin", {"success": False, "status": 431, "code": None,
                                   "message": "more than 20 header fields", "data": None}),
    ("/v1/tenants/demo/greenvn", [{"success": False, "status": 431, "code": None,
                                   "message": "more than 20 header fields", "data": None}]),
    ("/v1/Accounts/demo/Calls/connect.json",
     {"RestException": {"Status": 431, "Message": "more than 20 header fields"}}),
])
def test_a_refusal_comes_in_the_envelope_of_the_path(mock, path, envelope):
    headers = {f"x-f{i}": "v" for i in range(25)}
    answer = httpx.post(mock.url(path), headers=headers, auth=("demo_key", "demo_token"))
    assert (answer.status_code, answer.json()) == (431, envelope)
    v3 = httpx.post(mock.url("/v3/accounts/demo/calls"), headers=headers).json()
    assert v3["http_code"] == 431
    assert v3["response"]["error_data"]["message"] == "more than 20 header fields"


def test_headers_within_the_limit_pass_even_when_their_body_comes_in_the_same_packet(mock):
    padding = b"a" * (8192 - len(GET) - 200)
    body = json.dumps({"seconds": 1, "pad": "x" * 20000}).encode()
    with connect(mock) as sock:
        sock.sendall(b"POST /_mock/clock/advance HTTP/1.1\r\nHost: localhost\r\nX-Padding: "
                     + padding + b"\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        status, _ = status_and_body(answer_of(sock))
    # Through the connection's limits to the app, which refuses the unknown member.
    assert status == 400


def test_more_header_fields_than_the_limit_are_refused_431(mock):
    def request(fields: int) -> bytes:
        extra = b"".join(b"X-F%d: v\r\n" % i for i in range(fields - 2))
        with connect(mock) as sock:
            sock.sendall(GET + extra + b"Connection: close\r\n\r\n")
            return answer_of(sock, done=True)

    assert status_and_body(request(20))[0] == 200
    assert status_and_body(request(21)) == (
        431, {"error": "more than 20 header fields"})


def test_headers_that_trickle_in_are_cut_off_with_408(mock):
    with connect(mock) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /_mock/health HTTP/1.1\r\n")
        time.sleep(0.2)
        sock.sendall(b"Host: localhost\r\n")
        raw = answer_of(sock)
    assert 0.4 < time.monotonic() - started < 2
    assert status_and_body(raw) == (
        408, {"error": "the headers did not arrive within 0.5 s"})


def test_a_connection_that_asks_nothing_is_closed_without_an_answer(mock):
    with connect(mock) as sock:
        started = time.monotonic()
        assert answer_of(sock) == b""
    assert 0.4 < time.monotonic() - started < 2


def test_a_body_that_does_not_arrive_in_time_closes_the_connection_and_changes_nothing(mock):
    before = httpx.get(mock.url("/_mock/clock")).json()["offset_seconds"]
    with connect(mock) as sock:
        sock.sendall(b"POST /_mock/clock/advance HTTP/1.1\r\nHost: localhost\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                     b'{"seconds": 60')
        started = time.monotonic()
        assert answer_of(sock) == b""
    assert 0.4 < time.monotonic() - started < 2
    assert httpx.get(mock.url("/_mock/clock")).json()["offset_seconds"] == before


def test_keep_alive_and_pipelined_requests_still_work(mock):
    with connect(mock) as sock:
        sock.sendall(GET + b"\r\n" + GET + b"Connection: close\r\n\r\n")
        raw = answer_of(sock)
    assert raw.count(b"HTTP/1.1 200 OK") == 2
    with httpx.Client(base_url=mock.base_url) as client:
        assert all(client.get("/_mock/health").status_code == 200 for _ in range(20))


def test_connections_that_never_finish_cannot_lock_out_the_others(mock):
    # Eight is this server's capacity: forty never-finished requests are open at once.
    held = []
    try:
        for _ in range(40):
            sock = connect(mock)
            sock.sendall(b"GET /_mock/health HTTP/1.1\r\nX-Never: ")
            held.append(sock)
        started = time.monotonic()
        with httpx.Client(base_url=mock.base_url) as client:
            assert client.get("/_mock/health").status_code == 200
        assert time.monotonic() - started < 0.3
        time.sleep(0.1)
        closed = 0
        for sock in held:
            sock.settimeout(0.01)
            with contextlib.suppress(TimeoutError, OSError):
                closed += sock.recv(1) == b""
        # The oldest were displaced; at most the capacity stay open.
        assert closed >= 40 - 8
    finally:
        for sock in held:
            sock.close()


def test_an_answer_may_take_longer_than_the_header_timeout(settings):
    """The time for the next request's headers starts once the answer is sent."""
    async def slow(request: Request) -> PlainTextResponse:
        await asyncio.sleep(1.2)
        return PlainTextResponse("late but whole")

    config = uvicorn_config(Starlette(routes=[Route("/slow", slow)]), settings,
                            host="127.0.0.1", port=free_port(), log_level="warning")
    with in_thread(config) as base_url, httpx.Client(base_url=base_url) as client:
        assert client.get("/slow").text == "late but whole"
        assert client.get("/slow").text == "late but whole"  # the same connection
