"""Callback delivery under bursts, restarts, slow receivers and bad URLs (the outbox), at the
scale of hundreds; `benchmarks/outbox.py` measures the same at the scale of thousands."""

from __future__ import annotations

import copy
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request as WerkzeugRequest
from werkzeug import Response as WerkzeugResponse

from mock_server.settings import Settings
from mock_server.store.state import State
from mock_server.testing import MockServer, free_port

GP = "/v1/tenants/{tenant}/greenpin"
AUTH = {"demo": ("demo_key", "demo_token"), "other": ("other_key", "other_token")}
VNS = {"demo": "+916292134464", "other": "+918045671234"}


class Receiver:
    """Records when each delivery arrived (by its `x-exomock-delivery` header)."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.arrived: dict[str, float] = {}
        self.lock = threading.Lock()
        server.expect_request("/hook").respond_with_handler(self._handle)

    def _handle(self, request: WerkzeugRequest) -> WerkzeugResponse:
        with self.lock:
            self.arrived.setdefault(request.headers["x-exomock-delivery"], time.monotonic())
        return WerkzeugResponse("ok")

    @property
    def url(self) -> str:
        return self.server.url_for("/hook")


class DripServer(socketserver.ThreadingTCPServer):
    """Answers every request one byte every `pause` seconds: a receiver that never finishes."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, pause: float = 2.0) -> None:
        self.pause = pause
        self.stopping = threading.Event()
        super().__init__(("127.0.0.1", 0), DripHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/drip"

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()


class DripHandler(socketserver.BaseRequestHandler):
    server: DripServer

    def handle(self) -> None:
        self.request.recv(65536)
        answer = b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n" + b"x" * 1000000
        for byte in answer:
            if self.server.stopping.wait(self.server.pause):
                return
            try:
                self.request.sendall(bytes([byte]))
            except OSError:
                return


@pytest.fixture
def drip() -> Iterator[DripServer]:
    server = DripServer()
    yield server
    server.stop()


def settings_for(config: dict[str, Any], **callbacks: Any) -> Settings:
    raw = copy.deepcopy(config)
    raw["callbacks"].update(callbacks)
    return Settings.from_mapping(raw)


def create_many(mock: MockServer, tenant: str, count: int, duration: str = "1m") -> None:
    with httpx.Client(base_url=mock.base_url, auth=AUTH[tenant], timeout=10) as client:
        for i in range(count):
            answer = client.post(GP.format(tenant=tenant), json={
                "transaction_id": f"{tenant}-{i}",
                "a": {"numbers": [f"+9198{i:08d}"], "vns": [VNS[tenant]], "pin_length": 6},
                "b": {"numbers": [f"+9197{i:08d}"]},
                "deallocation_policy": {"duration": duration},
            })
            assert answer.status_code == 200, answer.text


def wait_until(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_burst_is_delivered_on_first_attempts_while_the_api_answers(config, httpserver):
    receiver = Receiver(httpserver)
    count = 300
    with MockServer(settings_for(config, workers=16, per_host=8)) as mock:
        create_many(mock, "demo", count)
        mock.set_callback_urls({"deallocation": receiver.url})
        latencies = []
        with httpx.Client(base_url=mock.base_url, timeout=10) as client:
            advance = client.post("/_mock/clock/advance", json={"seconds": 120})
            assert len(advance.json()["deallocated"]) == count
            due = time.monotonic()
            while len(receiver.arrived) < count and time.monotonic() - due < 30:
                started = time.perf_counter()
                assert client.get("/_mock/clock").status_code == 200
                latencies.append(time.perf_counter() - started)
                time.sleep(0.005)
        assert len(receiver.arrived) == count
        summary = httpx.get(mock.url("/_mock/callbacks/summary")).json()
        log = mock.callbacks(event="deallocation")
    assert summary["delivered"] == count
    assert summary["failed"] == summary["pending"] == summary["in_flight"] == 0
    assert all(len(entry["attempts"]) == 1 for entry in log)  # none waited as a failed attempt
    latencies.sort()
    assert latencies[int(len(latencies) * 0.99)] < 0.5


def test_pending_deliveries_resume_after_a_restart_without_holding_the_start(
    config, tmp_path: Path
):
    path = str(tmp_path / "state.db")
    port = free_port()
    settings = settings_for(config, retry_delays_seconds=[30])
    count = 100
    # First run: the receiver is not there; the deliveries stay pending (a retry in 30 s).
    with MockServer(settings, state=State.open(path)) as mock:
        create_many(mock, "demo", count)
        mock.set_callback_urls({"deallocation": f"http://127.0.0.1:{port}/hook"})
        mock.advance_clock(120)
        wait_until(lambda: all(e["attempts"] for e in mock.callbacks(event="deallocation")), 10)
        assert {e["outcome"] for e in mock.callbacks(event="deallocation")} == {"pending"}

    with HTTPServer(port=port) as server:
        receiver = Receiver(server)
        started = time.monotonic()
        with MockServer(settings, state=State.open(path)) as mock:
            assert httpx.get(mock.url("/_mock/clock")).status_code == 200
            assert time.monotonic() - started < 2
            wait_until(lambda: len(receiver.arrived) == count, 20)
            summary = httpx.get(mock.url("/_mock/callbacks/summary")).json()
            assert summary["delivered"] == count
            assert all(len(e["attempts"]) == 2 for e in mock.callbacks(event="deallocation"))


def test_a_slow_receiver_delays_only_its_own_deliveries(config, httpserver, drip):
    receiver = Receiver(httpserver)
    count = 60
    settings = settings_for(config, workers=16, per_host=4, timeout_seconds=30)
    with MockServer(settings) as mock:
        create_many(mock, "demo", count)
        create_many(mock, "other", count)
        mock.set_callback_urls({"deallocation": drip.url})
        mock.set_callback_urls({"deallocation": receiver.url}, tenant_id="other")
        mock.advance_clock(120)
        due = time.monotonic()
        wait_until(lambda: len(receiver.arrived) == count, 10)
        delays = sorted(at - due for at in receiver.arrived.values())
        summary = httpx.get(mock.url("/_mock/callbacks/summary")).json()
    assert delays[int(count * 0.99)] < 1.0
    # The slow one never answered quickly, so it holds one worker; its other deliveries wait
    # without failing.
    assert summary["in_flight"] == 1
    assert summary["queued"] == count - 1
    assert summary["failed"] == 0


def test_a_url_that_cannot_be_requested_fails_at_once(config):
    raw = copy.deepcopy(config)
    raw["tenants"]["demo"]["callback_urls"] = {"deallocation": "http://[::1"}
    with MockServer(Settings.from_mapping(raw)) as mock:
        create_many(mock, "demo", 1, duration="10s")
        mock.advance_clock(60)
        started = time.monotonic()
        wait_until(lambda: mock.callbacks(event="deallocation")[0]["outcome"] == "failed", 1)
        assert time.monotonic() - started < 1
        [entry] = mock.callbacks(event="deallocation")
        assert len(entry["attempts"]) == 1
        assert entry["attempts"][0]["error"].startswith("invalid URL 'http://[::1'")
        # Where URLs are set, such a URL is refused.
        for method, path, body in [
            ("PUT", "/_mock/tenants/demo/callback-urls", {"*": "http://[::1"}),
            ("PUT", "/_mock/tenants/demo/vns/+916292134465/connect-url", {"url": "http://[::1"}),
            ("POST", f"/_mock/callbacks/{entry['id']}/redeliver", {"url": "http://[::1"}),
        ]:
            answer = httpx.request(method, mock.url(path), json=body)
            assert answer.status_code == 400, (path, answer.text)
            assert answer.json()["error"].startswith("invalid URL")


def test_pending_deliveries_are_never_dropped_from_the_log(config, drip):
    settings = settings_for(config, retention=100, workers=4, per_host=4, timeout_seconds=30)
    with MockServer(settings) as mock:
        create_many(mock, "demo", 150)
        mock.set_callback_urls({"deallocation": drip.url})
        mock.advance_clock(120)
        create_many(mock, "other", 1, duration="1d")
        for _ in range(50):  # each logs a callback that ends at once: no URL for its event
            called = httpx.post(mock.url("/_mock/calls/incoming"), json={
                "tenant_id": "other", "vn": VNS["other"], "from": "+919800000000"})
            assert called.json()["callbacks"] == ["call_completed"]
        entries = mock.callbacks(event="deallocation")
        ended = mock.callbacks(event="call_completed")
        summary = httpx.get(mock.url("/_mock/callbacks/summary")).json()
    assert len(entries) == 150
    assert {e["outcome"] for e in entries} == {"pending"}
    # Over the limit of 100 with pending ones alone: an entry that has ended is not kept.
    assert ended == []
    assert summary["retained"] == 150


def _connect_mock(config: dict[str, Any], url: str) -> MockServer:
    raw = copy.deepcopy(config)
    raw["callbacks"]["timeout_seconds"] = 15  # the applet's own 5 s decide
    raw["tenants"]["demo"]["numbers"][1]["connect_url"] = url
    return MockServer(Settings.from_mapping(raw))


def test_the_connect_applet_waits_at_most_its_deadline_for_a_slow_url(config, drip):
    with _connect_mock(config, drip.url) as mock:
        started = time.monotonic()
        answer = httpx.post(mock.url("/_mock/calls/incoming"), timeout=30,
                            json={"vn": "+916292134465", "from": "+919812345678"})
        elapsed = time.monotonic() - started
    assert answer.json()["outcome"] == "connect_failed"
    assert answer.json()["connect_errors"] == ["the URL did not answer within 5 s"]
    assert 4.5 < elapsed < 7


def test_the_connect_applet_reads_no_more_than_its_limit(config, httpserver):
    httpserver.expect_request("/big").respond_with_data(
        b'{"destination": [' + b" " * 3_000_000 + b"]}", content_type="application/json")
    with _connect_mock(config, httpserver.url_for("/big")) as mock:
        answer = httpx.post(mock.url("/_mock/calls/incoming"), timeout=30,
                            json={"vn": "+916292134465", "from": "+919812345678"})
    assert answer.json()["outcome"] == "connect_failed"
    assert answer.json()["connect_errors"] == ["the answer is over 1048576 bytes"]


def test_the_drip_server_really_drips():
    server = DripServer(pause=0.2)
    try:
        with socket.create_connection(("127.0.0.1", server.server_address[1])) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(1)
            assert s.recv(100) == b"H"
    finally:
        server.stop()


def test_the_state_file_keeps_no_more_than_the_log(tmp_path):
    from mock_server.domain.changes import Changeset
    from mock_server.domain.deliveries import NOT_SENT, PENDING, Delivery

    path = str(tmp_path / "state.db")
    state = State.open(path, retention=100)

    def delivery(i: int, outcome: str) -> Delivery:
        return Delivery(id=f"d{i}", tenant_id="demo", event="deallocation", url="http://x/",
                        payload={}, created_at="", outcome=outcome)

    state.commit(Changeset(now=0.0, deliveries=[delivery(i, PENDING) for i in range(30)]))
    for start in range(30, 330, 100):
        state.commit(Changeset(now=0.0, deliveries=[
            delivery(i, NOT_SENT) for i in range(start, start + 100)]))
    assert len(state.log) == 100
    kept = {d.id for d in state.log.find()}
    # The pending ones, oldest of all, stay; of the ended ones the newest 70.
    assert kept == {f"d{i}" for i in range(30)} | {f"d{i}" for i in range(260, 330)}
    state.close()
    reopened = State.open(path, retention=100)
    assert {d.id for d in reopened.log.find()} == kept
    reopened.close()


def test_receivers_that_never_answer_hold_one_worker_each(config, httpserver):
    """Four destinations that never answer cannot take the workers (here 16, of which one
    destination may use 8) from a fifth that answers."""
    receiver = Receiver(httpserver)
    stuck = [DripServer(pause=30) for _ in range(4)]
    settings = settings_for(config, workers=16, per_host=8, timeout_seconds=30)
    try:
        with MockServer(settings) as mock:
            create_many(mock, "demo", 80, duration="1m")
            create_many(mock, "other", 100, duration="3m")
            mock.set_callback_urls({"deallocation": stuck[0].url})
            mock.advance_clock(90)
            logged = mock.callbacks(event="deallocation")
            assert len(logged) == 80
            for i, entry in enumerate(logged[:60]):
                again = httpx.post(mock.url(f"/_mock/callbacks/{entry['id']}/redeliver"),
                                   json={"url": stuck[1 + i // 20].url})
                assert again.status_code == 202
            mock.set_callback_urls({"deallocation": receiver.url}, tenant_id="other")
            mock.advance_clock(120)
            due = time.monotonic()
            wait_until(lambda: len(receiver.arrived) == 100, 10)
            took = time.monotonic() - due
            summary = httpx.get(mock.url("/_mock/callbacks/summary")).json()
    finally:
        for server in stuck:
            server.stop()
    assert took < 3
    assert summary["in_flight"] == 4  # one for each receiver that never answers
    assert summary["queued"] == 80 + 60 - 4


def test_a_compressed_answer_is_never_inflated(config, httpserver):
    import gzip
    import resource

    bomb = gzip.compress(b"\0" * 200_000_000)  # 200 MB of zeros in about 200 KB
    httpserver.expect_request("/gzip").respond_with_data(
        bomb, headers={"content-encoding": "gzip"}, content_type="application/json")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with _connect_mock(config, httpserver.url_for("/gzip")) as mock:
        create_many(mock, "demo", 5, duration="10s")
        mock.set_callback_urls({"deallocation": httpserver.url_for("/gzip")})
        mock.advance_clock(60)
        wait_until(lambda: all(e["outcome"] == "delivered"
                               for e in mock.callbacks(event="deallocation")), 10)
        answer = httpx.post(mock.url("/_mock/calls/incoming"), timeout=30,
                            json={"vn": "+916292134465", "from": "+919812345678"})
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert answer.json()["connect_errors"] == [
        "the answer is compressed (gzip); the applet asks for it uncompressed"]
    assert grown_mb < 100


def test_one_calls_status_callbacks_arrive_in_order_through_retries(config, httpserver):
    order: list[tuple[str, str]] = []
    refused: set[str] = set()

    def handle(request: WerkzeugRequest) -> WerkzeugResponse:
        delivery = request.headers["x-exomock-delivery"]
        if delivery not in refused:  # every first attempt fails
            refused.add(delivery)
            return WerkzeugResponse("busy", status=503)
        body = request.get_json()
        order.append((body["call_details"]["sid"], body["event_details"]["event_type"]))
        return WerkzeugResponse("ok")

    httpserver.expect_request("/status").respond_with_handler(handle)
    url = httpserver.url_for("/status")
    settings = settings_for(config, retry_delays_seconds=[0.2, 0.2], jitter=0.9)
    with MockServer(settings) as mock:
        sids = []
        for i in range(5):
            answer = httpx.post(mock.url("/v3/accounts/demo/calls"), auth=AUTH["demo"], json={
                "from": {"contact_uri": f"+9198111{i}2345"},  # ends in none of the magic
                "to": {"contact_uri": f"+9198333{i}6789"},    # numbers: both answer
                "virtual_number": VNS["demo"],
                "status_callback": [{"event": "answered", "url": url},
                                    {"event": "terminal", "url": url}]})
            sids.append(answer.json()["response"]["call_details"]["sid"])
        mock.advance_clock(60)
        wait_until(lambda: len(order) == 10, 10)
    for sid in sids:
        assert [event for s, event in order if s == sid] == ["answered", "terminal"]


def test_a_status_callback_url_that_cannot_be_requested_is_refused(client):
    answer = client.post("/v3/accounts/demo/calls", json={
        "from": {"contact_uri": "+919811112222"}, "to": {"contact_uri": "+919833334444"},
        "virtual_number": "+916292134464",
        "status_callback": [{"event": "terminal", "url": "http://[::1"}]})
    assert answer.status_code == 400
    assert answer.json()["response"]["error_data"]["code"] == 10725
    assert "invalid URL" in answer.json()["response"]["error_data"]["description"]


def test_a_reset_sends_no_more_of_what_it_forgot(config, drip, httpserver):
    receiver = Receiver(httpserver)
    with MockServer(settings_for(config, workers=4, per_host=4)) as mock:
        create_many(mock, "demo", 50, duration="10s")
        mock.set_callback_urls({"deallocation": drip.url})
        mock.advance_clock(60)
        assert httpx.get(mock.url("/_mock/callbacks/summary")).json()["queued"] > 0
        mock.reset("demo")
        summary = httpx.get(mock.url("/_mock/callbacks/summary")).json()
        assert summary["queued"] == 0
        assert summary["pending"] == 0
        # What comes after is not held up behind the forgotten ones.
        create_many(mock, "demo", 1, duration="10s")
        mock.set_callback_urls({"deallocation": receiver.url})
        mock.advance_clock(60)
        wait_until(lambda: len(receiver.arrived) == 1, 3)


def test_the_log_shrinks_back_to_its_limit_once_a_burst_has_ended(config, httpserver, tmp_path):
    receiver = Receiver(httpserver)
    path = str(tmp_path / "state.db")
    with MockServer(settings_for(config, retention=100), state=State.open(path, retention=100)) \
            as mock:
        create_many(mock, "demo", 300, duration="10s")
        mock.set_callback_urls({"deallocation": receiver.url})
        mock.advance_clock(60)
        wait_until(lambda: len(receiver.arrived) == 300, 10)
        wait_until(lambda: httpx.get(mock.url("/_mock/callbacks/summary")).json()["retained"]
                   == 100, 5)
    reopened = State.open(path, retention=100)
    assert len(reopened.log) == 100
    reopened.close()


def test_retries_go_on_where_they_were_after_a_restart(config, tmp_path):
    import sqlite3

    path = str(tmp_path / "state.db")
    port = free_port()
    settings = settings_for(config, retry_delays_seconds=[30, 30])
    with MockServer(settings, state=State.open(path)) as mock:
        create_many(mock, "demo", 1, duration="10s")
        mock.set_callback_urls({"deallocation": f"http://127.0.0.1:{port}/hook"})
        mock.advance_clock(60)
        wait_until(lambda: mock.callbacks(event="deallocation")[0]["attempts"], 5)
    # Two more runs, each making one attempt: three in all, the last one final.
    for _ in range(2):
        with MockServer(settings, state=State.open(path)) as mock:
            wait_until(lambda mock=mock: len(mock.callbacks(event="deallocation")[0]["attempts"])
                       >= 2, 5)
    db = sqlite3.connect(path)
    [(body,)] = db.execute("SELECT body FROM callbacks").fetchall()
    db.close()
    entry = __import__("json").loads(body)
    assert len(entry["attempts"]) == 3
    assert entry["outcome"] == "failed"


def test_callbacks_and_connect_requests_go_only_to_allowed_hosts(config):
    from mock_server.callbacks.urls import host_allowed

    assert host_allowed("a.example.com", ["*.example.com"])
    assert not host_allowed("example.com", ["*.example.com"])
    assert not host_allowed("evil-example.com", ["*.example.com"])
    assert host_allowed("::1", ["[::1]"])
    assert host_allowed("HOOKS.test", ["hooks.test"])
    raw = copy.deepcopy(config)
    raw["callbacks"]["allowed_hosts"] = ["127.0.0.1", "*.hooks.test"]
    raw["tenants"]["demo"]["callback_urls"] = {"deallocation": "http://blocked.test/hook"}
    raw["tenants"]["demo"]["numbers"][1]["connect_url"] = "http://blocked.test/connect"
    with MockServer(Settings.from_mapping(raw)) as mock:
        create_many(mock, "demo", 1, duration="10s")
        mock.advance_clock(60)
        [entry] = mock.callbacks(event="deallocation")
        wait_until(lambda: mock.callbacks(event="deallocation")[0]["outcome"] == "failed", 1)
        [entry] = mock.callbacks(event="deallocation")
        assert entry["attempts"][0]["error"] == "host 'blocked.test' is not in " \
            "callbacks.allowed_hosts"
        call = httpx.post(mock.url("/_mock/calls/incoming"),
                          json={"vn": "+916292134465", "from": "+919812345678"}).json()
        assert call["outcome"] == "connect_failed"
        assert call["connect_errors"] == ["host 'blocked.test' is not in callbacks.allowed_hosts"]
        for url, status in [("http://localhost:9/x", 400), ("http://a.hooks.test/x", 200),
                            ("http://127.0.0.1:9/x", 200)]:
            answer = httpx.put(mock.url("/_mock/tenants/demo/callback-urls"), json={"*": url})
            assert answer.status_code == status, answer.text
        refused = httpx.post(mock.url("/v3/accounts/demo/calls"), auth=AUTH["demo"], json={
            "from": {"contact_uri": "+919811112345"}, "to": {"contact_uri": "+919833336789"},
            "virtual_number": VNS["demo"],
            "status_callback": [{"event": "terminal", "url": "http://blocked.test/t"}]})
        assert refused.status_code == 400
        assert "allowed_hosts" in refused.json()["response"]["error_data"]["description"]
