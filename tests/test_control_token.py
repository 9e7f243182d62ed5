"""`--control-token`: the control plane only for those who hold it; a mock on an address other
machines reach refuses to start without one."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mock_server.cli import main
from mock_server.testing import MockServer

from .test_contract_catches_broken_servers import run_suite

TOKEN = "a-control-token-of-some-length"


def test_every_control_request_needs_the_token(make_client):
    client = make_client(control_token=TOKEN)
    for method, path in [("GET", "/_mock/clock"), ("POST", "/_mock/reset"),
                         ("GET", "/_mock/state"), ("GET", "/_mock/callbacks/summary"),
                         ("GET", "/_mock/no-such-route"), ("GET", "/_mock")]:
        for headers in ({}, {"authorization": "Bearer wrong-token-of-some-length"},
                        {"authorization": TOKEN}, {"authorization": f"Basic {TOKEN}"}):
            answer = client.request(method, path, headers=headers)
            assert answer.status_code == 401, (method, path, headers)
            assert answer.headers["www-authenticate"].startswith("Bearer")
            assert "control token" in answer.json()["error"]
    assert client.get("/_mock/clock", headers={"authorization": f"Bearer {TOKEN}"}).json()
    # The provider's API keeps its own credentials.
    assert client.get("/v1/tenants/demo/greenpin", auth=("demo_key", "demo_token")).status_code \
        == 200


def serve(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, dict[str, Any]]:
    started: dict[str, Any] = {}

    def run(server: Any, sockets: Any = None) -> None:
        started.update(app=server.config.app, host=server.config.host, sockets=sockets)

    monkeypatch.setattr("uvicorn.Server.run", run)
    return main(["serve", *argv]), started


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.test"])
def test_an_address_others_reach_needs_a_token(host, monkeypatch, capsys):
    monkeypatch.delenv("EXOMOCK_CONTROL_TOKEN", raising=False)
    code, started = serve(["--host", host], monkeypatch)
    assert code == 2
    assert not started
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"exomock: --host {host} is reachable from other machines: give "
                          "--control-token")
    if host in ("0.0.0.0", "::"):  # addresses this machine has: it listens
        code, started = serve(["--host", host, "--port", "0", "--control-token", TOKEN],
                              monkeypatch)
        assert code == 0
        assert started["host"] == host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "localhost"])
def test_loopback_needs_no_token(host, monkeypatch):
    monkeypatch.delenv("EXOMOCK_CONTROL_TOKEN", raising=False)
    code, started = serve(["--host", host, "--port", "0"], monkeypatch)
    assert code == 0
    assert started["host"] == host


def test_the_token_from_the_environment_and_its_length(monkeypatch, capsys):
    monkeypatch.setenv("EXOMOCK_CONTROL_TOKEN", TOKEN)
    code, started = serve(["--host", "0.0.0.0", "--port", "0"], monkeypatch)
    assert code == 0
    client = TestClient(started["app"])
    assert client.get("/_mock/state").status_code == 401
    assert client.get("/_mock/state", headers={"authorization": f"Bearer {TOKEN}"}).json()
    capsys.readouterr()
    code, _ = serve(["--control-token", "short"], monkeypatch)
    assert code == 2
    assert capsys.readouterr().err == "exomock: --control-token must have at least 16 characters\n"


@pytest.mark.slow
def test_the_contract_suite_and_the_test_server_carry_the_token():
    with MockServer(control_token=TOKEN) as mock:
        assert mock.advance_clock(60)["offset_seconds"] == 60
        assert httpx.get(mock.url("/_mock/clock")).status_code == 401
        code, output = run_suite(mock.base_url, "scheduled_deallocation", "--control-token", TOKEN)
        assert code == 0, output[-2000:]
        code, output = run_suite(mock.base_url, "scheduled_deallocation")
        assert code != 0
        assert "needs its control token: --control-token or EXOBRIDGE_CONTROL_TOKEN" in output
