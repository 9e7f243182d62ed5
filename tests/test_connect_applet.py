"""The programmable Connect applet, through HTTP: a VN with a Connect URL, a pytest-httpserver
endpoint answering it, `POST /_mock/calls/incoming`, and the incoming calls in the call APIs."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
import yaml
from pytest_httpserver import HTTPServer
from starlette.testclient import TestClient
from werkzeug import Request, Response

from contract_tests.contract import FIXTURES_DIR, OPENAPI_DIR, Contract

from .helpers import DEMO, allocation, check_control_answer, create

VN = "+912235499102"
CALLER = "+919811122233"
AGENT_1, AGENT_2 = "+919845043210", "+919958778763"
V1 = "/v1/Accounts/demo/Calls"
V3 = "/v3/accounts/demo/calls"
DOCUMENTED_ANSWER = json.loads(
    (FIXTURES_DIR / "examples" / "connect_applet_response.callback.json").read_text()
)


@pytest.fixture(scope="module")
def control_spec() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((OPENAPI_DIR / "mock-control.yaml").read_text())
    return document


def attach(client: TestClient, url: str, vn: str = VN) -> None:
    response = client.put(f"/_mock/tenants/demo/vns/{vn}/connect-url", json={"url": url})
    assert response.status_code == 200, response.text


def answering(client: TestClient, server: HTTPServer, answer: Any, status: int = 200) -> None:
    """The VN's Connect URL answers `answer` (JSON) with `status`."""
    server.expect_request("/connect", method="GET").respond_with_json(answer, status=status)
    attach(client, server.url_for("/connect"))


def ring(client: TestClient, control_spec: dict[str, Any], **body: Any) -> dict[str, Any]:
    response = client.post("/_mock/calls/incoming", json={"vn": VN, "from": CALLER, **body})
    assert response.status_code == 200, response.text
    check_control_answer(control_spec, "POST", "/_mock/calls/incoming", response)
    result: dict[str, Any] = response.json()
    return result


def destinations(answer: list[str], **options: Any) -> dict[str, Any]:
    return {"destination": [{"contact_uri": c} for c in answer], **options}


def statuses(result: dict[str, Any]) -> list[tuple[str, str, int | None, int | None]]:
    return [
        (d["contact_uri"], d["status"], d["attempt"], d["start_offset"])
        for d in result["destinations"]
    ]


def advance(client: TestClient, seconds: float) -> None:
    assert client.post("/_mock/clock/advance", json={"seconds": seconds}).status_code == 200


def get_v1(client: TestClient, contract: Contract, sid: str) -> dict[str, Any]:
    response = client.get(f"{V1}/{sid}")
    assert response.status_code == 200, response.text
    assert contract.response_errors("getCallV1", 200, response.json()) == []
    call: dict[str, Any] = response.json()["Call"]
    return call


# -- the applet's request -------------------------------------------------------------------------


def test_the_get_carries_the_documented_query(client, httpserver, contract, control_spec):
    answering(client, httpserver, destinations([AGENT_1]))
    result = ring(client, control_spec)
    [(request, _)] = httpserver.log
    query = dict(request.args)
    assert contract.callback_errors("connect_applet_request", query) == []
    assert query == {
        "CallSid": result["call_sid"],
        "From": "09811122233",
        "To": "02235499102",
        "Direction": "incoming",
        "DialCallDuration": "0",
        # 2026-01-01 00:00:00 UTC is 05:30 IST, a Thursday.
        "StartTime": "2026-01-01 05:30:00",
        "CurrentTime": "2026-01-01 05:30:00",
        "Created": "Thu, 01 Jan 2026 05:30:00",
        "DialWhomNumber": "",
    }
    logged = client.get("/_mock/callbacks", params={"event": "connect_applet_request"}).json()
    [entry] = logged["callbacks"]
    assert (entry["outcome"], entry["attempts"][0]["status_code"]) == ("delivered", 200)
    assert entry["payload"] == query


def test_the_connect_url_keeps_its_own_query(client, httpserver, control_spec):
    httpserver.expect_request("/connect", method="GET").respond_with_json(destinations([AGENT_1]))
    attach(client, httpserver.url_for("/connect") + "?flow=sales")
    assert ring(client, control_spec)["outcome"] == "connected"
    [(request, _)] = httpserver.log
    assert request.args["flow"] == "sales"
    assert request.args["Direction"] == "incoming"


# -- valid answers ---------------------------------------------------------------------------------


def test_destinations_are_dialled_in_order(client, httpserver, control_spec):
    answer = destinations(["9876500000", "+919876500001", AGENT_1, AGENT_2],
                          max_ringing_duration=20)
    answering(client, httpserver, answer)
    result = ring(client, control_spec, talk_seconds=42)
    assert (result["flow"], result["outcome"], result["connected_to"]) == (
        "connect", "connected", AGENT_1)
    assert statuses(result) == [
        ("9876500000", "no-answer", 1, 0),  # rings the 20 s of max_ringing_duration
        ("+919876500001", "busy", 2, 20),  # refuses after 1 s
        (AGENT_1, "connected", 3, 21),  # answers after 3 s
        (AGENT_2, "skipped", None, None),
    ]
    assert result["destinations"][2]["on_call_duration"] == 42
    assert (result["on_call_duration"], result["dial_call_duration"]) == (42, 45)
    assert result["duration"] == 21 + 3 + 42
    assert (result["connect_requests"], result["connect_errors"]) == (1, None)
    assert result["callbacks"] == []


def test_the_documented_answer_works(client, httpserver, control_spec):
    answering(client, httpserver, DOCUMENTED_ANSWER)
    result = ring(client, control_spec)
    assert result["outcome"] == "connected"
    # Parallel ringing of all three: the two numbers and the SIP user answer together; the
    # first listed wins the tie.
    assert statuses(result) == [
        ("+919845043210", "connected", 1, 0),
        ("sip:gauravjfb55d386", "canceled", 1, 0),
        ("+919958778763", "canceled", 1, 0),
    ]


def test_parallel_ringing_connects_the_first_to_answer(client, httpserver, control_spec):
    answer = destinations(
        ["9876500000", "9876500001", "9876500002", "9876500003", AGENT_1],
        parallel_ringing={"activate": True, "max_parallel_attempts": 3},
        max_ringing_duration=10,
        max_conversation_duration=600,
    )
    answering(client, httpserver, answer)
    result = ring(client, control_spec)
    # First group: never answers, busy, fails; all over after 10 s. Second group: 0003 answers
    # (and never hangs up, so max_conversation_duration ends the call) together with AGENT_1.
    assert statuses(result) == [
        ("9876500000", "no-answer", 1, 0),
        ("9876500001", "busy", 1, 0),
        ("9876500002", "failed", 1, 0),
        ("9876500003", "connected", 2, 10),
        (AGENT_1, "canceled", 2, 10),
    ]
    assert result["connected_to"] == "+919876500003"
    assert (result["on_call_duration"], result["duration"]) == (600, 10 + 3 + 600)


def test_nobody_answers(client, httpserver, contract, control_spec):
    answering(client, httpserver, destinations(["9876500000", "9876500002"]))
    result = ring(client, control_spec)
    assert (result["outcome"], result["dial_call_status"]) == ("not_answered", "failed")
    assert [d["status"] for d in result["destinations"]] == ["no-answer", "failed"]
    assert result["duration"] == 31
    advance(client, 31)
    assert get_v1(client, contract, result["call_sid"])["Status"] == "no-answer"


def test_sip_destinations_answer_unless_their_digits_say_otherwise(
    client, httpserver, contract, control_spec
):
    answering(client, httpserver, destinations(["sip:desk0001", "sip:desk7"]))
    result = ring(client, control_spec)
    assert statuses(result) == [("sip:desk0001", "busy", 1, 0), ("sip:desk7", "connected", 2, 1)]
    advance(client, 1)  # the second SIP user is dialled once the first has refused
    response = client.get(f"{V3}/{result['call_sid']}/legs", auth=DEMO)
    assert contract.response_errors("getCallLegs", 200, response.json()) == []
    legs = response.json()["response"]["legs"]
    assert [(leg["contact_uri"], leg["direction"]) for leg in legs] == [
        ("09811122233", "inbound"), ("sip:desk0001", "outbound"), ("sip:desk7", "outbound")]


def test_invalid_and_repeated_destinations_are_skipped(client, httpserver, control_spec):
    answering(client, httpserver, destinations(["5555555555", AGENT_1, "09845043210"]))
    result = ring(client, control_spec)
    assert [(d["status"], d["reason"]) for d in result["destinations"]] == [
        ("skipped", "not a valid phone number"),
        ("connected", "answered first"),
        ("skipped", "listed earlier in the same answer"),
    ]


def test_fetch_after_attempt_asks_again(client, httpserver, contract, control_spec):
    answers = [
        destinations(["9876500000", AGENT_2], fetch_after_attempt=True, max_ringing_duration=15),
        destinations([AGENT_1], fetch_after_attempt=True),
    ]
    queries: list[dict[str, str]] = []

    def handler(request: Request) -> Response:
        queries.append(dict(request.args))
        return Response(json.dumps(answers[len(queries) - 1]), content_type="application/json")

    httpserver.expect_request("/connect").respond_with_handler(handler)
    attach(client, httpserver.url_for("/connect"))
    result = ring(client, control_spec)
    assert (result["outcome"], result["connected_to"], result["connect_requests"]) == (
        "connected", AGENT_1, 2)
    assert statuses(result) == [
        ("9876500000", "no-answer", 1, 0),
        (AGENT_2, "skipped", None, None),
        (AGENT_1, "connected", 2, 15),
    ]
    second = queries[1]
    assert contract.callback_errors("connect_applet_request", second) == []
    assert (second["DialWhomNumber"], second["DialCallDuration"]) == ("09876500000", "15")
    assert (second["StartTime"], second["CurrentTime"]) == (
        "2026-01-01 05:30:00", "2026-01-01 05:30:15")


# -- answers that fail the call --------------------------------------------------------------------


def test_invalid_json_fails_the_call_and_says_so(client, httpserver, contract, control_spec):
    httpserver.expect_request("/connect").respond_with_data(
        '{"destination": [', content_type="application/json")
    attach(client, httpserver.url_for("/connect"))
    result = ring(client, control_spec)
    assert (result["outcome"], result["connected_to"], result["destinations"]) == (
        "connect_failed", None, [])
    [error] = result["connect_errors"]
    assert error.startswith("the answer is not valid JSON")
    assert error in result["reason"]
    call = get_v1(client, contract, result["call_sid"])
    assert (call["Status"], call["Direction"], call["Duration"]) == ("failed", "inbound", 0)
    [entry] = client.get("/_mock/callbacks").json()["callbacks"]
    assert entry["outcome"] == "failed"
    assert entry["attempts"][0]["error"].startswith("the answer is not valid JSON")


def test_schema_violations_name_the_member(client, httpserver, control_spec):
    broken = copy.deepcopy(DOCUMENTED_ANSWER)
    broken["destination"][0]["contact_uri"] = "gaurav"
    broken["dial_passthru_event_url"] = "http://x.example"
    broken["recording"]["channels"] = "stereo"
    answering(client, httpserver, broken)
    result = ring(client, control_spec)
    assert result["outcome"] == "connect_failed"
    errors = result["connect_errors"]
    assert len(errors) == 3
    # Each names the member and the rule, never the answer's values or unknown members' names:
    # an applet's answer may carry secrets.
    assert "destination/0/contact_uri: does not have the form the schema requires" in errors
    assert "recording/channels: is not one of the values the schema allows" in errors
    assert "(top): 1 member(s) the schema does not allow" in errors
    for error in [*errors, result["reason"]]:
        assert "gaurav" not in error
        assert "stereo" not in error
        assert "dial_passthru_event_url" not in error


def test_an_answer_without_destinations_names_it(client, httpserver, control_spec):
    answering(client, httpserver, {"state_management": True})
    result = ring(client, control_spec)
    [error] = result["connect_errors"]
    assert error.startswith("(top): ")
    assert "destination" in error


def test_a_server_error_fails_the_call(client, httpserver, contract, control_spec):
    answering(client, httpserver, destinations([AGENT_1]), status=500)
    result = ring(client, control_spec)
    assert result["outcome"] == "connect_failed"
    assert "HTTP 500" in result["connect_errors"][0]
    [entry] = client.get("/_mock/callbacks").json()["callbacks"]
    assert (entry["outcome"], entry["attempts"][0]["status_code"]) == ("failed", 500)
    assert get_v1(client, contract, result["call_sid"])["Status"] == "failed"


def test_a_slow_url_fails_the_call(make_client, config, httpserver, control_spec):
    raw = copy.deepcopy(config)
    raw["callbacks"]["timeout_seconds"] = 0.2
    client = make_client(raw)

    def slow(request: Request) -> Response:
        time.sleep(0.6)
        return Response(json.dumps(destinations([AGENT_1])), content_type="application/json")

    httpserver.expect_request("/connect").respond_with_handler(slow)
    attach(client, httpserver.url_for("/connect"))
    result = ring(client, control_spec)
    assert result["outcome"] == "connect_failed"
    assert result["connect_errors"][0].startswith("the URL did not answer within 0.2 s")


def test_an_unreachable_url_fails_the_call(client, control_spec):
    attach(client, "http://127.0.0.1:9/connect")
    result = ring(client, control_spec)
    assert result["outcome"] == "connect_failed"
    assert result["connect_errors"][0].startswith("the URL could not be reached")


# -- state management ------------------------------------------------------------------------------


def test_busy_state_managed_users_are_skipped_and_the_connected_one_is_busy(
    client, httpserver, contract, control_spec
):
    # AGENT_2 is busy on a state-managed click-to-call (16 s long).
    click = {"from": {"contact_uri": AGENT_2, "state_management": True},
             "to": {"contact_uri": "9876516844"}, "virtual_number": VN}
    assert client.post(V3, json=click, auth=DEMO).status_code == 200
    answering(client, httpserver, destinations([AGENT_2, AGENT_1], state_management=True))
    result = ring(client, control_spec, talk_seconds=60)
    assert statuses(result) == [(AGENT_2, "skipped", None, None), (AGENT_1, "connected", 1, 0)]
    assert result["destinations"][0]["reason"] == "busy on another state-managed call"
    # From its answer (3 s) until the call ends (63 s), AGENT_1 is busy too.
    advance(client, 3)
    own = {**click, "from": {"contact_uri": AGENT_1, "state_management": True}}
    kept_away = client.post(V3, json=own, auth=DEMO)
    assert kept_away.status_code == 200
    assert kept_away.json()["response"]["call_details"]["status"] == "busy"
    again = ring(client, control_spec, **{"from": "+919811122299"})
    assert (again["outcome"], again["dial_call_status"]) == ("busy", None)
    assert all(d["status"] == "skipped" for d in again["destinations"])
    advance(client, 60)
    placed = client.post(V3, json=own, auth=DEMO)
    assert placed.json()["response"]["call_details"]["status"] is None
    assert get_v1(client, contract, result["call_sid"])["Status"] == "completed"


def test_without_state_management_busy_users_are_dialled(client, httpserver, control_spec):
    click = {"from": {"contact_uri": AGENT_2, "state_management": True},
             "to": {"contact_uri": "9876516844"}, "virtual_number": VN}
    assert client.post(V3, json=click, auth=DEMO).status_code == 200
    answering(client, httpserver, destinations([AGENT_2, AGENT_1]))
    assert ring(client, control_spec)["connected_to"] == AGENT_2


def test_sticky_agent_comes_first(client, httpserver, control_spec):
    answering(client, httpserver, destinations([AGENT_2]))
    assert ring(client, control_spec)["connected_to"] == AGENT_2
    httpserver.clear()
    answering(client, httpserver, destinations([AGENT_1, AGENT_2], sticky_agent=True))
    result = ring(client, control_spec)
    assert result["connected_to"] == AGENT_2
    assert statuses(result)[0] == (AGENT_2, "connected", 1, 0)


# -- which flow takes a call -----------------------------------------------------------------------


def test_exobridge_routes_its_callers_first(client, httpserver, control_spec):
    exobridge_vn = "+916292134464"
    created = create(client, allocation())
    httpserver.expect_request("/connect").respond_with_json(destinations([AGENT_1]))
    attach(client, httpserver.url_for("/connect"), vn=exobridge_vn)

    def on_vn(**body: Any) -> dict[str, Any]:
        return ring(client, control_spec, vn=exobridge_vn, **body)

    registered = on_vn(**{"from": "+919876500001"})
    assert (registered["flow"], registered["dialled"]) == ("exobridge", "+919876500002")
    with_pin = on_vn(digits=created["a"]["pin"])
    assert (with_pin["flow"], with_pin["outcome"]) == ("exobridge", "connected")
    wrong_pin = on_vn(**{"from": "+919811122200", "digits": "99"})
    assert (wrong_pin["flow"], wrong_pin["outcome"]) == ("exobridge", "verification_failed")
    stranger = on_vn(**{"from": "+919811122201"})
    assert (stranger["flow"], stranger["connected_to"]) == ("connect", AGENT_1)
    assert len(httpserver.log) == 1


# -- the control of Connect URLs -------------------------------------------------------------------


def test_connect_url_control(make_client, config, httpserver, control_spec):
    raw = copy.deepcopy(config)
    configured = httpserver.url_for("/configured")
    for number in raw["tenants"]["demo"]["numbers"]:
        if number["number"] == VN:
            number["connect_url"] = configured
    client = make_client(raw)
    httpserver.expect_request("/configured").respond_with_json(destinations([AGENT_1]))
    httpserver.expect_request("/runtime").respond_with_json(destinations([AGENT_2]))
    path = "/_mock/tenants/{tenant_id}/vns/{vn}/connect-url"

    assert ring(client, control_spec)["connected_to"] == AGENT_1
    runtime = httpserver.url_for("/runtime")
    answer = client.put("/_mock/tenants/demo/vns/02235499102/connect-url", json={"url": runtime})
    check_control_answer(control_spec, "PUT", path, answer)
    assert answer.json() == {"tenant_id": "demo", "vn": VN, "connect_url": runtime}
    assert ring(client, control_spec)["connected_to"] == AGENT_2
    removed = client.put("/_mock/tenants/demo/vns/%2B912235499102/connect-url", json={"url": None})
    assert removed.json()["connect_url"] is None
    assert ring(client, control_spec)["flow"] == "exobridge"
    assert client.post("/_mock/reset", json={"tenant_id": "demo"}).status_code == 200
    assert ring(client, control_spec)["connected_to"] == AGENT_1

    refusals = [
        (client.put("/_mock/tenants/nobody/vns/02235499102/connect-url", json={"url": None}), 404),
        (client.put("/_mock/tenants/demo/vns/09999999999/connect-url", json={"url": None}), 404),
        (client.put("/_mock/tenants/demo/vns/123/connect-url", json={"url": None}), 400),
        (client.put("/_mock/tenants/demo/vns/02235499102/connect-url", json={"url": "ftp://x"}),
         400),
        (client.put("/_mock/tenants/demo/vns/02235499102/connect-url", json={}), 400),
    ]
    for response, status in refusals:
        assert response.status_code == status, response.text
        check_control_answer(control_spec, "PUT", path, response)


# -- incoming calls in the call APIs ---------------------------------------------------------------


def test_incoming_calls_are_listed_as_inbound(client, httpserver, contract, control_spec):
    create(client, allocation())
    bridged = ring(client, control_spec, vn="+916292134464", talk_seconds=20,
                   **{"from": "+919876500001"})
    answering(client, httpserver, destinations([AGENT_1], recording={"record": True}))
    connected = ring(client, control_spec, talk_seconds=30)
    refused = ring(client, control_spec, vn="+916292134465")
    assert refused["outcome"] == "no_allocation"
    click = {"from": {"contact_uri": "8516043026"}, "to": {"contact_uri": "9876516844"},
             "virtual_number": VN}
    outbound = client.post(V3, json=click, auth=DEMO).json()["response"]["call_details"]["sid"]

    page = client.get(V1, params={"Direction": "inbound"}, auth=DEMO)
    assert contract.response_errors("listCalls", 200, page.json()) == []
    calls = page.json()["Calls"]
    assert [c["Sid"] for c in calls] == [
        refused["call_sid"], connected["call_sid"], bridged["call_sid"]]
    assert {c["Direction"] for c in calls} == {"inbound"}
    everything = client.get(V1, auth=DEMO).json()
    assert everything["Metadata"]["Total"] == 4
    assert everything["Calls"][0]["Sid"] == outbound
    assert client.get(V1, params={"Direction": "outbound-api"}, auth=DEMO).json()[
        "Metadata"]["Total"] == 1

    # While the calls go on they are in progress; then completed with their durations.
    call = get_v1(client, contract, connected["call_sid"])
    assert (call["Status"], call["From"], call["To"], call["PhoneNumberSid"]) == (
        "in-progress", "09811122233", "02235499102", "02235499102")
    refused_call = get_v1(client, contract, refused["call_sid"])
    assert (refused_call["Status"], refused_call["Duration"], refused_call["Price"]) == (
        "failed", 0, "0.000")
    advance(client, 60)
    call = get_v1(client, contract, connected["call_sid"])
    assert (call["Status"], call["Duration"], call["Price"]) == ("completed", 33, "0.500")
    assert call["RecordingUrl"]
    bridged_call = get_v1(client, contract, bridged["call_sid"])
    assert (bridged_call["Status"], bridged_call["Duration"]) == ("completed", 25)
    assert bridged["duration"] == 25
    page = client.get(V1, params={"Direction": "inbound", "Status": "completed"}, auth=DEMO)
    assert contract.response_errors("listCalls", 200, page.json()) == []
    assert page.json()["Metadata"]["Total"] == 2

    details = client.get(f"{V3}/{connected['call_sid']}", auth=DEMO)
    assert contract.response_errors("getCall", 200, details.json()) == []
    assert details.json()["response"]["call_details"]["direction"] == "inbound"
    legs = client.get(f"{V3}/{connected['call_sid']}/legs", auth=DEMO).json()["response"]["legs"]
    assert [(leg["direction"], leg["status"], leg["on_call_duration"]) for leg in legs] == [
        ("inbound", "completed", 33), ("outbound", "completed", 30)]


def test_an_incoming_calls_legs_follow_the_clock(client, httpserver, contract, control_spec):
    answering(client, httpserver, destinations(["9876500000", AGENT_1], max_ringing_duration=20))
    sid = ring(client, control_spec)["call_sid"]

    def legs() -> list[tuple[str, str | None]]:
        response = client.get(f"{V3}/{sid}/legs", auth=DEMO)
        assert contract.response_errors("getCallLegs", 200, response.json()) == []
        return [(leg["state"], leg["status"]) for leg in response.json()["response"]["legs"]]

    assert legs() == [("active", None), ("active", None)]
    advance(client, 20)
    assert legs() == [("active", None), ("terminal", "no-answer"), ("active", None)]
    advance(client, 3 + 10)
    assert legs() == [("terminal", "completed"), ("terminal", "no-answer"),
                      ("terminal", "completed")]
