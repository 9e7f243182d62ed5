"""Scheduled deallocation and callback delivery: retries, the log, redelivery, signatures."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from contract_tests.contract import FIXTURES_DIR
from mock_server.callbacks.dispatcher import CallbackDispatcher, CallbackSchemaViolation
from mock_server.clock import Clock
from mock_server.ids import IdSource
from mock_server.pytest_plugin import CallbackSink
from mock_server.settings import Settings
from mock_server.testing import free_port

from .helpers import GP, allocation, create, wait_until


def log(client: Any, **filters: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = client.get("/_mock/callbacks", params=filters).json()[
        "callbacks"
    ]
    return entries


def test_clock_advance_deallocates_frees_pins_and_sends_the_callback(
    client, callback_sink, contract
):
    client.put(
        "/_mock/tenants/demo/callback-urls",
        json={"deallocation": callback_sink.url_for("deallocation")},
    )
    body = allocation(
        a={"numbers": ["9876500001"], "vns": ["6292134464"], "pin": "777"},
        deallocation_policy={"duration": "60s"},
    )
    created = create(client, body)

    early = client.post("/_mock/clock/advance", json={"seconds": 59}).json()
    assert early["deallocated"] == []
    assert client.get(GP + "/" + created["greenpin_id"]).json()["data"]["state"] == "active"

    late = client.post("/_mock/clock/advance", json={"seconds": 1}).json()
    assert late["deallocated"] == [created["greenpin_id"]]
    assert client.get(GP + "/" + created["greenpin_id"]).json()["data"]["state"] == "vault"

    received = callback_sink.wait_for("deallocation")
    assert received.errors == []
    assert received.payload["greenpin_id"] == created["greenpin_id"]
    assert received.payload["aparty_pins"] == ["777"]
    assert contract.callback_errors("deallocation", received.payload) == []

    # The PIN and the numbers are free again.
    again = create(
        client, allocation("t2", a={"numbers": ["9876500001"], "vns": ["6292134464"], "pin": "777"})
    )
    assert again["a"]["pin"] == "777"
    entry = wait_until(
        lambda: [e for e in log(client, event="deallocation") if e["outcome"] == "delivered"]
    )
    assert len(entry[0]["attempts"]) == 1


def test_event_without_url_is_logged_not_sent(client):
    created = create(client, allocation())
    client.delete(GP + "/" + created["greenpin_id"])
    [entry] = log(client, event="deallocation")
    assert entry["outcome"] == "not_sent"
    assert entry["attempts"] == []


def test_receiver_failing_then_answering_gets_it_after_retries(client, callback_sink):
    callback_sink.answer_next(503, 500)
    client.put("/_mock/tenants/demo/callback-urls", json={"*": callback_sink.url})
    created = create(client, allocation())
    client.delete(GP + "/" + created["greenpin_id"])
    [entry] = wait_until(lambda: log(client, outcome="delivered"))
    assert [a["status_code"] for a in entry["attempts"]] == [503, 500, 200]
    assert len(callback_sink.events("deallocation")) == 3


def test_receiver_down_then_up(make_client, config):
    raw = copy.deepcopy(config)
    raw["callbacks"]["retry_delays_seconds"] = [0.4, 0.4, 0.4, 0.4]
    client = make_client(raw)
    client.auth = ("demo_key", "demo_token")
    port = free_port()
    client.put("/_mock/tenants/demo/callback-urls", json={"*": f"http://127.0.0.1:{port}/hook"})
    created = create(client, allocation())
    client.delete(GP + "/" + created["greenpin_id"])
    wait_until(lambda: log(client)[0]["attempts"])  # the first attempt failed: nobody listens
    server = HTTPServer(host="127.0.0.1", port=port)
    sink = CallbackSink(server)
    server.start()
    try:
        [entry] = wait_until(lambda: log(client, outcome="delivered"), timeout=5)
        assert entry["attempts"][0]["error"]
        assert entry["attempts"][0]["status_code"] is None
        assert entry["attempts"][-1]["status_code"] == 200
        assert sink.wait_for("deallocation").errors == []
    finally:
        server.clear()
        server.stop()


def test_receiver_failing_forever_ends_in_a_logged_failure_without_blocking(client, callback_sink):
    callback_sink.answer_next(*[500] * 10)
    client.put("/_mock/tenants/demo/callback-urls", json={"*": callback_sink.url})
    created = create(client, allocation())
    client.delete(GP + "/" + created["greenpin_id"])
    # The API answers while the deliveries are retried.
    started = time.perf_counter()
    create(
        client,
        allocation(
            "t2",
            a={"numbers": ["9876500003"], "vns": ["6292134465"]},
            b={"numbers": ["9876500004"]},
        ),
    )
    assert time.perf_counter() - started < 0.5
    [entry] = wait_until(lambda: log(client, outcome="failed"))
    # One attempt and one retry per configured delay (two in the test configuration).
    assert [a["status_code"] for a in entry["attempts"]] == [500, 500, 500]


def test_receiver_refusing_with_4xx_is_not_retried(client, callback_sink):
    callback_sink.answer_next(400)
    client.put("/_mock/tenants/demo/callback-urls", json={"*": callback_sink.url})
    created = create(client, allocation())
    client.delete(GP + "/" + created["greenpin_id"])
    [entry] = wait_until(lambda: log(client, outcome="failed"))
    assert [a["status_code"] for a in entry["attempts"]] == [400]


def test_redeliver_sends_again_and_logs_a_new_entry(client, callback_sink):
    client.put("/_mock/tenants/demo/callback-urls", json={"*": callback_sink.url})
    created = create(client, allocation())
    client.delete(GP + "/" + created["greenpin_id"])
    [first] = wait_until(lambda: log(client, outcome="delivered"))
    response = client.post(f"/_mock/callbacks/{first['id']}/redeliver")
    assert response.status_code == 202
    assert response.json()["redelivery_of"] == first["id"]
    wait_until(lambda: len(log(client, outcome="delivered")) == 2)
    payloads = [c.payload for c in callback_sink.events("deallocation")]
    assert payloads[0] == payloads[1]
    assert client.post("/_mock/callbacks/nope/redeliver").status_code == 404


def test_signature_in_standard_webhooks_form(make_client, config, callback_sink):
    raw = copy.deepcopy(config)
    secret_bytes = b"0123456789abcdef0123456789abcdef"
    raw["callbacks"]["signing_secret"] = "whsec_" + base64.b64encode(secret_bytes).decode()
    client = make_client(raw)
    client.auth = ("demo_key", "demo_token")
    client.put("/_mock/tenants/demo/callback-urls", json={"*": callback_sink.url})
    created = create(client, allocation())
    client.delete(GP + "/" + created["greenpin_id"])
    received = callback_sink.wait_for("deallocation")
    headers = {k.lower(): v for k, v in received.headers.items()}
    raw_body = callback_sink.server.log[0][0].get_data()
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + raw_body
    expected = base64.b64encode(hmac.new(secret_bytes, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"


def test_dispatcher_refuses_to_send_an_invalid_payload(spec):
    settings = Settings.load()
    dispatcher = CallbackDispatcher(settings, spec.callback_schemas, Clock(), IdSource(1))
    payload = json.loads((FIXTURES_DIR / "examples" / "deallocation.callback.json").read_text())
    dispatcher.check("deallocation", payload)
    payload["greenpin_id"] = 12
    with pytest.raises(CallbackSchemaViolation, match="greenpin_id"):
        dispatcher.prepare("demo", "deallocation", payload, "http://receiver.test/hook")
    assert len(dispatcher.log) == 0
    with pytest.raises(CallbackSchemaViolation, match="no schema"):
        dispatcher.prepare("demo", "no_such_event", {}, None)


def test_control_plane_refuses_bad_input(client):
    assert client.post("/_mock/clock/advance", json={"seconds": -1}).status_code == 400
    assert client.post("/_mock/clock/advance", json={"seconds": "1"}).status_code == 400
    assert client.post("/_mock/clock/advance", content=b"{").status_code == 400
    assert (
        client.put("/_mock/tenants/demo/callback-urls", json={"nope": "http://x"}).status_code
        == 400
    )
    assert client.put("/_mock/tenants/zz/callback-urls", json={}).status_code == 404
    assert client.post("/_mock/reset", json={"tenant_id": "zz"}).status_code == 404


def test_reset_forgets_allocations_and_restores_time(client):
    create(client, allocation())
    client.post("/_mock/clock/advance", json={"seconds": 3600})
    assert client.post("/_mock/reset").status_code == 200
    assert client.get(GP).json()["metadata"]["total"] == 0
    assert client.get("/_mock/clock").json()["offset_seconds"] == 0
    state = client.get("/_mock/state").json()
    assert state["tenants"]["demo"] == []


def test_chaos_duplicates_and_reorders(make_client, config, callback_sink):
    raw = copy.deepcopy(config)
    raw["callbacks"]["chaos"] = {"duplicate_probability": 1.0, "reorder": True,
                                 "max_delay_seconds": 0.3}
    client = make_client(raw)
    client.auth = ("demo_key", "demo_token")
    client.put("/_mock/tenants/demo/callback-urls", json={"*": callback_sink.url})
    ids = []
    for i in range(6):
        created = create(client, allocation(f"t{i}", a={"numbers": [f"98765600{i:02d}"],
                                                        "vns": ["6292134464"]},
                                            b={"numbers": [f"98765700{i:02d}"]}))
        client.delete(GP + "/" + created["greenpin_id"])
        ids.append(created["greenpin_id"])
    wait_until(lambda: len(callback_sink.events("deallocation")) == 12)
    received = [c.payload["greenpin_id"] for c in callback_sink.events("deallocation")]
    # Every callback arrives twice, and not in the order the allocations were deleted.
    assert sorted(received) == sorted(ids * 2)
    first_seen = list(dict.fromkeys(received))
    assert first_seen != ids
    entries = log(client, event="deallocation")
    assert len(entries) == 12
    assert sum(1 for e in entries if e["redelivery_of"]) == 6


def test_undelivered_callbacks_survive_a_restart(spec, tmp_path):
    import asyncio

    import httpx

    from mock_server.domain.changes import Changeset
    from mock_server.store.state import State

    settings = Settings.load()
    payload = json.loads((FIXTURES_DIR / "examples" / "deallocation.callback.json").read_text())
    path = str(tmp_path / "state.db")

    # A run that stops before its delivery leaves: the callback is only in the log.
    state = State.open(path)
    first = CallbackDispatcher(settings, spec.callback_schemas, Clock(), IdSource(1),
                               log=state.log)
    [emitted] = first.prepare("demo", "deallocation", payload, "http://receiver.test/hook")
    state.commit(Changeset(now=0.0, deliveries=[emitted]))
    state.close()

    received: list[bytes] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request.content)
        return httpx.Response(200)

    async def second_run() -> None:
        reopened = State.open(path)
        dispatcher = CallbackDispatcher(
            settings, spec.callback_schemas, Clock(), IdSource(2),
            log=reopened.log, transport=httpx.MockTransport(receiver),
        )
        await dispatcher.start()
        await dispatcher.drain()
        entry = dispatcher.log.get(emitted.id)
        assert entry is not None
        assert entry.outcome == "delivered"
        await dispatcher.stop()
        reopened.close()

    asyncio.run(second_run())
    assert [json.loads(body) for body in received] == [payload]
