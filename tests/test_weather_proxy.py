"""The weather proxy is transparent when the weather is fair, and does what its weather says."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn

from contract_tests.ci.weather_proxy import Weather, WeatherProxy
from mock_server.testing import free_port

from .helpers import in_thread

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "QUERY", "HEAD"]


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with what it was sent; repeated and odd headers; a chunked body for /chunked."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    seen = {
        "method": scope["method"], "path": scope["path"],
        "query": scope["query_string"].decode(), "body": body.decode("latin-1"),
        "headers": [[k.decode(), v.decode("latin-1")] for k, v in scope["headers"]],
    }
    answer = json.dumps(seen).encode()
    headers = [(b"content-type", b"application/json"), (b"set-cookie", b"a=1"),
               (b"set-cookie", b"b=2"), (b"x-odd", b" spaced  value ")]
    if scope["path"] == "/chunked":
        await send({"type": "http.response.start", "status": 207, "headers": headers})
        await send({"type": "http.response.body", "body": answer[:10], "more_body": True})
        await send({"type": "http.response.body", "body": answer[10:]})
        return
    headers.append((b"content-length", str(len(answer)).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


@contextmanager
def echo_server() -> Iterator[str]:
    with in_thread(uvicorn.Config(echo, host="127.0.0.1", port=free_port(),
                                  log_level="error", lifespan="off")) as base_url:
        yield base_url


def exchange(base: str, method: str, path: str = "/p?q=1",
             body: bytes | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(method, path, body=body, headers={
            "X-Custom": "kept as sent", "Authorization": "Basic ZGVtbzpkZW1v",
            "Host": "api.example"})
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def without_date(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers if k.lower() != "date"]


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with echo_server() as base:
        yield base


@pytest.mark.parametrize("method", METHODS)
def test_fair_weather_changes_nothing(upstream: str, method: str):
    body = None if method in ("GET", "HEAD") else b'{"x": "\xe2\x82\xac"}' * 1000
    with WeatherProxy(upstream) as proxy:
        for path in ("/p?q=1&q=2", "/chunked"):
            direct = exchange(upstream, method, path, body)
            proxied = exchange(proxy.url, method, path, body)
            assert proxied[0] == direct[0]
            # Every header, in order, repeated ones too (only the date may tick on).
            assert without_date(proxied[1]) == without_date(direct[1])
            assert proxied[2] == direct[2]  # the echo: method, path, query, headers, body
    if method != "HEAD":
        assert json.loads(direct[2])["method"] == method


def test_every_fifth_request_is_throttled_after_the_latency(upstream: str):
    with WeatherProxy(upstream, Weather(throttle_every=5, retry_after=1, latency=0.05)) as proxy:
        started = time.perf_counter()
        answers = [exchange(proxy.url, "GET") for _ in range(10)]
        elapsed = time.perf_counter() - started
    assert [status for status, _, _ in answers] == [200] * 4 + [429] + [200] * 4 + [429]
    assert ("retry-after", "1") in answers[4][1]
    assert json.loads(answers[4][2])["status"] == 429
    assert elapsed >= 10 * 0.05


def test_resets_and_unavailable_answers_come_in_their_shares(upstream: str):
    outcomes: dict[str, int] = {"ok": 0, "503": 0, "reset": 0}
    with WeatherProxy(upstream, Weather(reset=0.2, unavailable=0.2, seed=5)) as proxy:
        for _ in range(200):
            try:
                status, _, _ = exchange(proxy.url, "GET")
            except (ConnectionError, http.client.HTTPException):
                outcomes["reset"] += 1
                continue
            outcomes["ok" if status == 200 else str(status)] += 1
    assert 20 <= outcomes["reset"] <= 60, outcomes
    assert 20 <= outcomes["503"] <= 60, outcomes
    assert outcomes["ok"] + outcomes["503"] + outcomes["reset"] == 200


def test_a_lost_answer_was_forwarded(upstream: str):
    weather = Weather(lose_first_answer_to=("POST /p",))
    with WeatherProxy(upstream, weather) as proxy:
        with pytest.raises((ConnectionError, http.client.HTTPException)):
            exchange(proxy.url, "POST", body=b"{}")
        assert exchange(proxy.url, "POST", body=b"{}")[0] == 200  # only the first
    assert proxy.counts["lose"] == 1
    assert proxy.counts["forward"] == 1


def test_a_first_request_reset_was_not_forwarded(upstream: str):
    weather = Weather(reset_first_to=("POST /p", "POST /q"))
    with WeatherProxy(upstream, weather) as proxy:
        for path in ("/p", "/q"):
            with pytest.raises((ConnectionError, http.client.HTTPException)):
                exchange(proxy.url, "POST", path, body=b"{}")
            assert exchange(proxy.url, "POST", path, body=b"{}")[0] == 200  # only the first
    assert proxy.counts["reset"] == proxy.counts["reset first"] == 2
    assert proxy.counts["forward"] == 2
