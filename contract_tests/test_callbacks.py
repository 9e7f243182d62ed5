"""Callback conformance: provoke callbacks, receive them on a sink, check them against the schemas.

Against the mock, the sink's URL is registered through the control plane. Against a remote
server, the sink must be reachable from it: give `--callback-url` (the public URL that forwards
to the sink, e.g. a tunnel) and `--sink-port` (where the sink listens here), and configure the
tenant's callback URLs on the provider's side to point there; without them these tests skip.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from .conftest import Api
from .contract import OPENAPI_DIR, Contract
from .target import Target

# The events a tenant configures URLs for (the v3 status callback names its URL per request).
EVENTS = sorted(
    p.name.removesuffix(".schema.json") for p in (OPENAPI_DIR / "callbacks").glob("*.schema.json")
    if not p.name.startswith(("click_to_call_status", "connect_applet"))
)


@dataclass
class Received:
    event: str | None
    payload: Any
    method: str


@dataclass
class Sink:
    server: HTTPServer
    public_url: str
    received: list[Received] = field(default_factory=list)
    condition: threading.Condition = field(default_factory=threading.Condition)

    def url_for(self, event: str) -> str:
        return f"{self.public_url.rstrip('/')}/{event}"

    def handle(self, request: Request) -> Response:
        if request.method == "GET":
            payload: Any = dict(request.args)
        else:
            try:
                payload = json.loads(request.get_data())
            except ValueError:
                payload = request.get_data(as_text=True)
        event = request.path.rstrip("/").rsplit("/", 1)[-1] or None
        with self.condition:
            self.received.append(Received(event, payload, request.method))
            self.condition.notify_all()
        return Response("{}", status=200, content_type="application/json")

    def wait_for(self, event: str, where: Any = None, timeout: float = 10.0) -> Received:
        deadline = time.monotonic() + timeout
        with self.condition:
            while True:
                for item in self.received:
                    if item.event == event and (where is None or where(item.payload)):
                        return item
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    got = [r.event for r in self.received]
                    raise AssertionError(f"no {event} callback within {timeout} s; got {got}")
                self.condition.wait(remaining)


@pytest.fixture
def sink(target: Target, pytestconfig: pytest.Config, api: Api) -> Iterator[Sink]:
    public = pytestconfig.getoption("--callback-url")
    if not target.has_control_plane and not public:
        pytest.skip(
            "callbacks from a remote server need --callback-url (a public URL forwarding to the "
            "sink) and --sink-port, and the tenant's callback URLs set to it on the provider"
        )
    port = int(pytestconfig.getoption("--sink-port") or 0)
    server = HTTPServer(host="0.0.0.0" if public else "127.0.0.1", port=port)
    server.start()
    made = Sink(server, public or server.url_for("/callbacks"))
    server.expect_request(re.compile(".*")).respond_with_handler(made.handle)
    urls_path = f"/_mock/tenants/{target.tenant_id}/callback-urls"
    if target.has_control_plane:
        # One URL per event, `<sink>/<event>`, as a provider-side configuration would have it.
        api.control("PUT", urls_path, json={e: made.url_for(e) for e in EVENTS})
    yield made
    if target.has_control_plane:
        api.control("PUT", urls_path, json=dict.fromkeys(EVENTS))
    server.clear()
    server.stop()


def test_deletion_sends_a_valid_deallocation_callback(
    sink: Sink, api: Api, target: Target, contract: Contract, id_prefix: str,
    destructive: bool, pytestconfig: pytest.Config,
) -> None:
    if not destructive:
        pytest.skip("creates an allocation; --no-destructive is set")
    vns = (pytestconfig.getoption("--vns") or "+916292134464").split(",")
    body = {
        "transaction_id": f"{id_prefix}callback-{time.time_ns()}",
        "a": {"numbers": ["9812300001"], "vns": [vns[0]]},
        "b": {"numbers": ["9812300002"]},
    }
    created = api.post(target.greenpin, json=body)
    assert created.status_code == 200, created.text
    greenpin_id = created.json()["data"]["greenpin_id"]
    assert api.delete(f"{target.greenpin}/{greenpin_id}").status_code == 200
    received = sink.wait_for("deallocation", where=lambda p: p.get("greenpin_id") == greenpin_id)
    assert received.method == "POST"
    assert contract.callback_errors("deallocation", received.payload) == []
    assert received.payload["transaction_id"] == body["transaction_id"]
    assert received.payload["state"] == "vault"


def test_scheduled_deallocation_sends_the_callback(
    sink: Sink, api: Api, target: Target, contract: Contract, id_prefix: str,
    needs_control_plane: None, destructive: bool,
) -> None:
    if not destructive:
        pytest.skip("creates an allocation; --no-destructive is set")
    body = {
        "transaction_id": f"{id_prefix}scheduled-{time.time_ns()}",
        "a": {"numbers": ["9812300011"], "vns": ["+916292134465"]},
        "b": {"numbers": ["9812300012"]},
        "deallocation_policy": {"duration": "30s"},
    }
    created = api.post(target.greenpin, json=body)
    assert created.status_code == 200, created.text
    greenpin_id = created.json()["data"]["greenpin_id"]
    api.control("POST", "/_mock/clock/advance", json={"seconds": 30})
    received = sink.wait_for("deallocation", where=lambda p: p.get("greenpin_id") == greenpin_id)
    assert contract.callback_errors("deallocation", received.payload) == []
