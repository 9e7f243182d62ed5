"""Web pages cannot drive the mock through a user's browser: `/_mock/` requests from another
origin are refused, and a mock on a loopback address answers loopback names only (no DNS
rebinding)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from mock_server.routes.browsers import loopback_host
from mock_server.testing import MockServer


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server


def test_another_pages_request_to_the_control_plane_is_refused_and_changes_nothing(mock):
    before = httpx.get(mock.url("/_mock/clock")).json()["offset_seconds"]
    for content_type in ("text/plain", "application/json"):
        answer = httpx.post(mock.url("/_mock/clock/advance"), content=b'{"seconds": 3600}',
                            headers={"origin": "https://pages.example",
                                     "content-type": content_type})
        assert answer.status_code == 403
        assert "takes no requests from other web pages" in answer.json()["error"]
    refused = httpx.post(mock.url("/_mock/reset"), json={}, headers={"origin": "null"})
    assert refused.status_code == 403
    assert httpx.get(mock.url("/_mock/clock")).json()["offset_seconds"] == before


def test_the_dashboards_own_requests_and_clients_without_origin_pass(mock):
    same = httpx.post(mock.url("/_mock/clock/advance"), json={"seconds": 1},
                      headers={"origin": mock.base_url})
    assert same.status_code == 200
    assert httpx.post(mock.url("/_mock/reset"), json={}).status_code == 200


def test_a_name_other_than_loopback_is_refused_in_the_envelope_of_the_path(mock):
    rebound = {"host": f"pages.example:{mock.port}"}
    state = httpx.get(mock.url("/_mock/state"), headers=rebound)
    assert state.status_code == 403
    assert "answers loopback names only" in state.json()["error"]
    api = httpx.get(mock.url("/v1/tenants/demo/greenpin"), auth=mock.auth, headers=rebound)
    assert api.status_code == 403
    assert api.json()["success"] is False
    for name in (f"localhost:{mock.port}", f"127.0.0.1:{mock.port}", "127.0.0.1"):
        assert httpx.get(mock.url("/_mock/health"), headers={"host": name}).status_code == 200


@pytest.mark.parametrize(("host", "loopback"), [
    ("localhost", True), ("localhost:8000", True), ("api.localhost:80", True),
    ("127.0.0.1", True), ("127.1.2.3:9", True), ("[::1]:8000", True), ("::1", True),
    ("LOCALHOST.", True), ("example.test", False), ("127.0.0.1.nip.io", False),
    ("[::ffff:10.0.0.1]:80", False), ("", False), ("10.0.0.1:8000", False),
])
def test_loopback_names(host, loopback):
    assert loopback_host(host) is loopback
