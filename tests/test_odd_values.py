"""Random request sequences with extreme and odd values: never a 5xx, and after every answer
that is not 2xx the state (allocations, calls, callbacks, clock, run-time URLs) is unchanged."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from mock_server.app import create_app
from mock_server.clock import FrozenClock
from mock_server.settings import Settings

from .helpers import DEMO, START

GP = "/v1/tenants/demo/greenpin"
GV = "/v1/tenants/demo/greenvn"
VNS = ["+916292134464", "6292134465", "+919999999999"]
NUMBERS = ["+919811111111", "9822222222", "09833333333", "+919844444444", "+1234", "98111"]


class Raw(str):
    """JSON text written as it is (`1e3`, `1234.0`, `NaN`), not as a string."""


def text(value: Any) -> str:
    """JSON of `value`, with every `Raw` in it written raw."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(text(v) for v in value) + "]"
    return json.dumps(value)


ODD_NUMBERS = st.sampled_from([
    Raw("1e3"), Raw("1234.0"), Raw("1.5"), Raw("12345678901234567890"), Raw("-0"), Raw("1e400"),
    Raw("NaN"), Raw("0.0"), "NaN", "Infinity", "1e3", "0012", "", 0, 1, 2, 4, 9, 10, 1234,
    999999999, 1000000000, -1, True, None,
])
DURATIONS = st.sampled_from([
    "1s", "10m", "2d", "36500d", "36501d", "3000000d", "999999999m", "999999999s",
    "0s", "1e3s", "10", "", "-5m", Raw("1e3"),
])
ids = st.sampled_from(["known", "unknown"])


def party(draw: st.DrawFn) -> dict[str, Any]:
    found: dict[str, Any] = {"numbers": draw(st.lists(st.sampled_from(NUMBERS), max_size=3))}
    if draw(st.booleans()):
        found["vns"] = draw(st.lists(st.sampled_from(VNS), min_size=1, max_size=2))
    if draw(st.booleans()):
        found["pin"] = draw(st.one_of(ODD_NUMBERS, st.sampled_from(["1234", "007", "12a"])))
    if draw(st.booleans()):
        found["pin_length"] = draw(ODD_NUMBERS)
    return found


@st.composite
def greenpin_body(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"transaction_id": draw(st.sampled_from(["t1", "t2", "t3"]))}
    body["a"] = party(draw)
    if draw(st.booleans()):
        body["b"] = party(draw)
    if draw(st.booleans()):
        body["deallocation_policy"] = {"duration": draw(DURATIONS)}
    if draw(st.booleans()):
        body["usage"] = draw(st.sampled_from(["oneway", "twoway", "both"]))
    return body


@st.composite
def request(draw: st.DrawFn) -> tuple[str, str, Any]:
    kind = draw(st.sampled_from([
        "create", "update", "bulk", "delete", "greenvn", "advance", "incoming", "call",
    ]))
    if kind == "create":
        return "POST", GP, draw(greenpin_body())
    if kind == "update":
        return "PUT", f"{GP}/{{{draw(ids)}}}", draw(greenpin_body())
    if kind == "bulk":
        items = [{"greenpin_id": "{known}", **draw(greenpin_body())}
                 for _ in range(draw(st.integers(1, 3)))]
        return "PUT", GP, {"greenpins": items}
    if kind == "delete":
        return "DELETE", f"{GP}/{{{draw(ids)}}}", None
    if kind == "greenvn":
        return "POST", GV, {
            "connection_id": draw(st.sampled_from(["c1", "c2"])),
            "aparty_numbers": draw(st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=2)),
            "bparty_numbers": draw(st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=2)),
            "usage": "twoway",
            "aparty_pins": draw(st.lists(ODD_NUMBERS, max_size=3)),
            "deallocation_policy": {"duration": draw(DURATIONS)},
        }
    if kind == "advance":
        seconds = draw(st.one_of(ODD_NUMBERS, st.sampled_from(
            [60, 3600, Raw("3.1536e9"), 3153600000, 3153600001, Raw("1e10")])))
        return "POST", "/_mock/clock/advance", {"seconds": seconds}
    if kind == "incoming":
        return "POST", "/_mock/calls/incoming", {
            "vn": draw(st.sampled_from(VNS)), "from": draw(st.sampled_from(NUMBERS)),
            "digits": draw(st.one_of(ODD_NUMBERS, st.sampled_from(["1234", "0000"]))),
        }
    return "POST", "/v3/accounts/demo/calls", {
        "from": {"contact_uri": draw(st.sampled_from(NUMBERS))},
        "to": {"contact_uri": draw(st.sampled_from(NUMBERS))},
        "virtual_number": draw(st.sampled_from(VNS)),
        "max_time_limit": draw(ODD_NUMBERS),
        "attempt_time_out": draw(ODD_NUMBERS),
    }


def observe(client: TestClient) -> Any:
    backend = client.app.state.backend  # type: ignore[attr-defined]
    return (
        client.get("/_mock/state").json(),
        client.get("/_mock/callbacks").json(),
        [call.__dict__ for call in backend.state.calls.calls("demo")],
        backend.state.runtime,
    )


_APP = create_app(Settings.load(), clock=FrozenClock(START), seed=3, tune_gc=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(request(), min_size=1, max_size=12))
def test_odd_values_never_fail_the_server_nor_change_state_when_refused(requests):
    client = TestClient(_APP, raise_server_exceptions=False)
    client.auth = DEMO
    assert client.post("/_mock/reset").status_code == 200
    known = "none"
    for method, path, body in requests:
        path = path.replace("{known}", known).replace("{unknown}", "no-such-id")
        content = None if body is None else text(body).replace('"{known}"', json.dumps(known))
        before = observe(client)
        answer = client.request(method, path, content=content,
                                headers={"content-type": "application/json"})
        assert answer.status_code < 500, (method, path, content, answer.text)
        if answer.status_code >= 300:
            assert observe(client) == before, (method, path, content, answer.text)
        elif path == GP and method == "POST":
            known = answer.json()["data"]["greenpin_id"]
    # Every allocation kept can still be read and listed: nothing accepted broke them.
    assert client.get(GP).status_code == 200
    for allocation in client.get("/_mock/state").json()["tenants"]["demo"]:
        kind = GP if allocation["kind"] == "greenpin" else GV
        if kind == GP:
            assert client.get(f"{GP}/{allocation['id']}").status_code == 200
        for pin in allocation["a"]["pins"] + allocation["b"]["pins"]:
            assert pin.isdigit(), allocation


def test_a_pin_given_as_a_float_is_the_integer_pin(client):
    answer = client.post(GV, content=(
        '{"connection_id": "c1", "aparty_numbers": ["+919855555555"], "bparty_numbers":'
        ' ["+919866666666"], "usage": "twoway", "aparty_pins": [1234.0, 1.5e3]}'),
        headers={"content-type": "application/json"})
    assert answer.status_code == 200, answer.text
    [allocation] = client.get("/_mock/state").json()["tenants"]["demo"]
    assert allocation["a"]["pins"] == ["1234", "1500"]
    greenvn_id = answer.json()["data"]["greenvn_id"]
    caller = client.post("/_mock/calls/incoming", json={
        "vn": allocation["a"]["vns"][0], "from": "+919877777777", "digits": "1234"})
    assert caller.json()["outcome"] == "connected"
    assert client.delete(f"{GV}/{greenvn_id}").status_code == 200


def test_durations_and_the_clock_have_an_end(client):
    refused = client.post(GP, json={
        "transaction_id": "long", "a": {"numbers": ["+919811111111"], "vns": ["+916292134464"]},
        "b": {"numbers": ["+919822222222"]}, "deallocation_policy": {"duration": "3000000d"}})
    assert refused.status_code == 400
    assert refused.json()["code"] == 5
    assert "36500d" in refused.json()["message"]
    assert client.get("/_mock/state").json()["tenants"]["demo"] == []
    longest = client.post(GP, json={
        "transaction_id": "long", "a": {"numbers": ["+919811111111"], "vns": ["+916292134464"]},
        "b": {"numbers": ["+919822222222"]}, "deallocation_policy": {"duration": "36500d"}})
    assert longest.status_code == 200
    for _ in range(1, 60):
        advanced = client.post("/_mock/clock/advance", json={"seconds": 3153600000})
        if advanced.status_code != 200:
            break
    assert advanced.status_code == 400
    assert "2200-01-01" in advanced.json()["error"]
    assert client.get("/_mock/clock").json()["now"] < "2200-01-01"
    assert client.get(GP).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/tenants/demo/greenpin?page=%C2%B2", None),
        ("GET", "/v1/tenants/demo/greenpin?page_size=%EF%BC%93", None),
        ("GET", "/v1/Accounts/demo/Calls?PageSize=%C2%B2", None),
        ("POST", "/_mock/calls/incoming",
         {"vn": "+916292134464", "from": "+919877777777", "digits": "1" * 21}),
        ("POST", "/_mock/calls/incoming", {"vn": "+916292134464", "from": "+6834002"}),
        ("PUT", "/_mock/tenants/demo/vns/6292134465/connect-url", {"url": "http://xn--/"}),
        ("POST", "/_mock/reset", {"tenant_id": [[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]] * 1}),
        ("POST", "/_mock/faults", {"internal_errors": 1, "x": 1}),
    ],
    ids=["page-superscript", "page-size-fullwidth", "v1-page-size-superscript",
         "digits-21", "from-too-short-for-callbacks", "connect-url-bad-idna", "nested-control",
         "unknown-control-member"],
)
def test_odd_inputs_are_refused_with_4xx_and_change_nothing(client, method, path, body):
    create = client.post(GP, json={
        "transaction_id": "t", "a": {"numbers": ["+919811111111"], "vns": ["+916292134464"]},
        "b": {"numbers": ["+919822222222"]}})
    assert create.status_code == 200
    if path.startswith("/_mock/reset"):
        body = {"tenant_id": _nested(300)}
    before = observe(client)
    answer = client.request(method, path, json=body)
    assert 400 <= answer.status_code < 500, answer.text
    assert observe(client) == before


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def test_a_form_integer_in_other_digits_is_refused(client):
    answer = client.post("/v1/Accounts/demo/Calls/connect.json", data={
        "From": "09811112222", "To": "09833334444", "CallerId": "06292134464",
        "TimeLimit": "\u00b2", "TimeOut": "\u2460"})
    assert answer.status_code == 400, answer.text


def test_no_error_echoes_a_large_input(client):
    huge = "9" * 60_000  # about what a URL may hold
    answers = [
        client.get("/_mock/state", params={"tenant_id": huge}),
        client.post("/_mock/reset", json={"tenant_id": "9" * 900_000}),
        client.get(GP, params={"number": huge}),
        client.get(f"{GP}/{huge}"),
        client.get(f"/v3/accounts/demo/calls/{huge}"),
        client.post("/_mock/calls/incoming", json={"vn": huge[:40], "from": "+919811111111"}),
        client.post(GP, json={"transaction_id": "t", "a": {"numbers": ["9" * 900_000]}}),
    ]
    for answer in answers:
        assert 400 <= answer.status_code < 500, answer.text[:300]
        assert len(answer.content) < 2000, (answer.status_code, answer.text[:300])
