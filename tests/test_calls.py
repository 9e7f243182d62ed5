"""Click-to-call (v3), call details and legs (v3), classic call details (v1), through HTTP.

Every answer asserted here is also checked against the spec with `contract.response_errors`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

from contract_tests.contract import FIXTURES_DIR, OPENAPI_DIR, Contract

from .helpers import OTHER, check_control_answer

CALLS = "/v3/accounts/demo/calls"
V1 = "/v1/Accounts/demo/Calls"
VN = "+912235499102"
OTHER_VN = "+911135124157"
DOCUMENTED = json.loads((FIXTURES_DIR / "examples" / "click_to_call.request.json").read_text())


def call_body(
    from_: str = "8516043026", to: str = "9876516844", **overrides: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "from": {"contact_uri": from_},
        "to": {"contact_uri": to},
        "virtual_number": VN,
    }
    body.update(overrides)
    return body


def create(client: TestClient, contract: Contract, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(CALLS, json=body)
    assert response.status_code == 200, response.text
    assert contract.response_errors("createCall", 200, response.json()) == []
    details: dict[str, Any] = response.json()["response"]["call_details"]
    return details


def advance(client: TestClient, seconds: float) -> None:
    assert client.post("/_mock/clock/advance", json={"seconds": seconds}).status_code == 200


def get_call(client: TestClient, contract: Contract, sid: str) -> dict[str, Any]:
    response = client.get(f"{CALLS}/{sid}")
    assert response.status_code == 200, response.text
    assert contract.response_errors("getCall", 200, response.json()) == []
    details: dict[str, Any] = response.json()["response"]["call_details"]
    return details


def get_legs(client: TestClient, contract: Contract, sid: str) -> list[dict[str, Any]]:
    response = client.get(f"{CALLS}/{sid}/legs")
    assert response.status_code == 200, response.text
    assert contract.response_errors("getCallLegs", 200, response.json()) == []
    legs: list[dict[str, Any]] = response.json()["response"]["legs"]
    return legs


def get_v1(client: TestClient, contract: Contract, sid: str) -> dict[str, Any]:
    response = client.get(f"{V1}/{sid}")
    assert response.status_code == 200, response.text
    assert contract.response_errors("getCallV1", 200, response.json()) == []
    call: dict[str, Any] = response.json()["Call"]
    return call


def list_v1(client: TestClient, contract: Contract, **params: Any) -> dict[str, Any]:
    response = client.get(V1, params=params)
    assert response.status_code == 200, response.text
    assert contract.response_errors("listCalls", 200, response.json()) == []
    page: dict[str, Any] = response.json()
    return page


def assert_v3_error(
    response: Any, contract: Contract, operation_id: str, status: int, code: int | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert contract.response_errors(operation_id, status, body) == []
    assert body["http_code"] == status
    assert body["response"]["code"] == status
    assert body["response"]["status"] == "failure"
    error: dict[str, Any] = body["response"]["error_data"]
    assert error["code"] == (code or status)
    assert error["message"]
    assert error["description"]
    return error


def assert_v1_error(response: Any, contract: Contract, operation_id: str, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert contract.response_errors(operation_id, status, body) == []
    assert body["RestException"]["Status"] == status
    message: str = body["RestException"]["Message"]
    return message


# -- createCall ----------------------------------------------------------------------------------


def test_documented_request_succeeds_as_written(client, contract):
    response = client.post(CALLS, json=DOCUMENTED)
    assert response.status_code == 200, response.text
    body = response.json()
    assert contract.response_errors("createCall", 200, body) == []
    assert (body["method"], body["http_code"], body["metadata"]) == ("POST", 200, None)
    assert (body["response"]["status"], body["response"]["error_data"]) == ("success", None)
    details = body["response"]["call_details"]
    documented = json.loads((FIXTURES_DIR / "examples" / "click_to_call.response.json").read_text())
    expected = documented["response"]["call_details"]
    # Everything but the SID and the times is as documented.
    for member in ("direction", "virtual_number", "state", "status", "end_time", "total_duration",
                   "total_talk_time", "custom_field", "app_id", "app_name", "digits",
                   "recordings"):
        assert details[member] == expected[member], member
    assert details["legs"] == f"{CALLS}/{details['sid']}/legs"
    assert details["created_time"] == details["start_time"] == details["updated_time"]
    assert details["created_time"] == "2026-01-01T05:30:00+05:30"


def test_lifecycle_progresses_with_the_clock(client, contract):
    call = create(client, contract, call_body(custom_field="crm-42"))
    sid = call["sid"]
    [leg1] = get_legs(client, contract, sid)
    assert (leg1["leg_number"], leg1["contact_uri"], leg1["state"]) == (1, "08516043026", "active")
    assert leg1["answer_time"] is None
    assert leg1["on_call_duration"] is None

    advance(client, 2)
    assert len(get_legs(client, contract, sid)) == 1

    advance(client, 1)  # t + 3: `from` answers, `to` is dialled
    leg1, leg2 = get_legs(client, contract, sid)
    assert leg1["answer_time"] == "2026-01-01T05:30:03+05:30"
    assert (leg2["leg_number"], leg2["contact_uri"]) == (2, "09876516844")
    assert (leg2["state"], leg2["answer_time"]) == ("active", None)
    assert leg2["created_time"] == "2026-01-01T05:30:03+05:30"

    advance(client, 3)  # t + 6: `to` answers; they talk
    details = get_call(client, contract, sid)
    assert (details["state"], details["status"]) == ("active", None)
    assert details["updated_time"] == "2026-01-01T05:30:06+05:30"
    assert all(leg["answer_time"] for leg in get_legs(client, contract, sid))

    advance(client, 9)
    assert get_call(client, contract, sid)["state"] == "active"

    advance(client, 1)  # t + 16: over
    details = get_call(client, contract, sid)
    assert (details["state"], details["status"]) == ("terminal", "completed")
    assert details["end_time"] == details["updated_time"] == "2026-01-01T05:30:16+05:30"
    assert (details["total_duration"], details["total_talk_time"]) == (16, 10)
    assert details["custom_field"] == "crm-42"
    assert details["recordings"] is None  # not asked for
    legs = get_legs(client, contract, sid)
    leg1, leg2 = legs
    durations = [(leg["status"], leg["on_call_duration"], leg["total_duration"]) for leg in legs]
    assert durations == [("completed", 13, 16), ("completed", 10, 13)]
    assert leg1["end_time"] == leg2["end_time"] == details["end_time"]


def test_a_big_clock_jump_keeps_each_step_at_its_time(client, contract):
    sid = create(client, contract, call_body())["sid"]
    advance(client, 3600)
    details = get_call(client, contract, sid)
    assert details["end_time"] == "2026-01-01T05:30:16+05:30"
    assert details["total_duration"] == 16


def test_recorded_call_has_a_recording_once_over(client, contract):
    body = call_body(recording={"record": True, "channels": "dual"})
    sid = create(client, contract, body)["sid"]
    advance(client, 16)
    [recording] = get_call(client, contract, sid)["recordings"]
    assert recording["channels"] == "dual"
    assert recording["url"].endswith(f"/{sid}.mp3")
    assert get_v1(client, contract, sid)["RecordingUrl"] == recording["url"]


@pytest.mark.parametrize(
    ("from_", "to", "extra", "ends_at", "status", "leg_statuses", "talk"),
    [
        ("9876500000", "9876516844", {"attempt_time_out": 20}, 20, "no-answer", ["no-answer"], 0),
        ("9876500000", "9876516844", {}, 45, "no-answer", ["no-answer"], 0),
        ("9876500001", "9876516844", {}, 1, "busy", ["busy"], 0),
        ("9876500002", "9876516844", {}, 1, "failed", ["failed"], 0),
        ("8516043026", "9876500000", {}, 48, "no-answer", ["completed", "no-answer"], 0),
        ("8516043026", "9876500001", {}, 4, "busy", ["completed", "busy"], 0),
        ("8516043026", "9876500002", {}, 4, "failed", ["completed", "failed"], 0),
        ("8516043026", "9876500003", {"max_time_limit": 60}, 66, "completed",
         ["completed", "completed"], 60),
        ("9876500003", "9876516844", {"max_time_limit": 30}, 36, "completed",
         ["completed", "completed"], 30),
        ("8516043026", "9876516844", {"max_time_limit": 5}, 11, "completed",
         ["completed", "completed"], 5),
    ],
)
def test_magic_numbers_choose_the_outcome(
    client, contract, from_, to, extra, ends_at, status, leg_statuses, talk
):
    sid = create(client, contract, call_body(from_, to, **extra))["sid"]
    advance(client, ends_at - 1)
    assert get_call(client, contract, sid)["state"] == "active"
    advance(client, 1)
    details = get_call(client, contract, sid)
    assert (details["state"], details["status"]) == ("terminal", status)
    assert (details["total_duration"], details["total_talk_time"]) == (ends_at, talk)
    legs = get_legs(client, contract, sid)
    assert [leg["status"] for leg in legs] == leg_statuses
    assert all(leg["state"] == "terminal" for leg in legs)
    if len(legs) == 1:
        assert legs[0]["on_call_duration"] == 0  # never answered
    v1 = get_v1(client, contract, sid)
    assert (v1["Status"], v1["Duration"]) == (status, ends_at)


# -- status callbacks ----------------------------------------------------------------------------


def test_answered_and_terminal_callbacks_are_delivered(client, contract, callback_sink):
    url = callback_sink.url_for("click_to_call_status")
    body = call_body(status_callback=[{"event": "answered", "url": url},
                                      {"event": "terminal", "url": url + "?which=terminal"}])
    sid = create(client, contract, body)["sid"]

    advance(client, 6)
    answered = callback_sink.wait_for(
        "click_to_call_status", where=lambda p: p["event_details"]["event_type"] == "answered"
    )
    assert answered.errors == []
    assert contract.callback_errors("click_to_call_status", answered.payload) == []
    assert answered.payload["call_details"]["sid"] == sid
    assert answered.payload["call_details"]["state"] == "active"
    assert answered.payload["call_details"]["updated_time"] == "2026-01-01T05:30:06+05:30"

    advance(client, 10)
    terminal = callback_sink.wait_for(
        "click_to_call_status", where=lambda p: p["event_details"]["event_type"] == "terminal"
    )
    assert terminal.errors == []
    assert contract.callback_errors("click_to_call_status", terminal.payload) == []
    assert terminal.payload["call_details"] == get_call(client, contract, sid)
    assert terminal.path == "/callbacks/click_to_call_status"
    assert len(callback_sink.events("click_to_call_status")) == 2


def test_only_the_subscribed_events_are_sent(client, contract, callback_sink):
    url = callback_sink.url_for("click_to_call_status")
    body = copy.deepcopy(DOCUMENTED)  # subscribes `terminal` only
    body["status_callback"][0]["url"] = url
    body["from"]["contact_uri"] = "8516043099"
    sid = create(client, contract, body)["sid"]
    advance(client, 16)
    received = callback_sink.wait_for("click_to_call_status")
    assert received.payload["event_details"]["event_type"] == "terminal"
    assert received.payload["call_details"]["sid"] == sid
    assert received.payload["call_details"]["recordings"]  # the documented request records
    log = client.get("/_mock/callbacks", params={"event": "click_to_call_status"}).json()
    assert [e["payload"]["event_details"]["event_type"] for e in log["callbacks"]] == ["terminal"]

    # Without a subscription nothing is sent, not even to the tenant's configured URL.
    client.put("/_mock/tenants/demo/callback-urls", json={"*": url})
    create(client, contract, call_body(from_="8516043098"))
    advance(client, 16)
    log = client.get("/_mock/callbacks", params={"event": "click_to_call_status"}).json()
    assert len(log["callbacks"]) == 1


def test_an_unanswered_call_sends_terminal_only(client, contract, callback_sink):
    url = callback_sink.url_for("click_to_call_status")
    body = call_body(to="9876500001", status_callback=[{"event": "answered", "url": url},
                                                       {"event": "terminal", "url": url}])
    create(client, contract, body)
    advance(client, 60)
    received = callback_sink.wait_for("click_to_call_status")
    assert received.payload["event_details"]["event_type"] == "terminal"
    assert received.payload["call_details"]["status"] == "busy"
    assert received.errors == []
    assert len(client.get("/_mock/callbacks").json()["callbacks"]) == 1


# -- state management ----------------------------------------------------------------------------


def placed(details: dict[str, Any]) -> bool:
    """The call is under way (its user was free); a busy user's is over at once, `busy`."""
    if details["state"] == "active":
        assert details["status"] is None
        return True
    assert (details["state"], details["status"], details["total_talk_time"]) == (
        "terminal", "busy", 0)
    return False


def test_state_managed_user_is_busy_until_the_call_ends(client, contract, callback_sink):
    managed = {"contact_uri": "8516043026", "state_management": True}
    first = create(client, contract, call_body(**{"from": managed}))
    assert placed(first)

    # The same user in another form is busy: the call is placed and over at once, never
    # ringing the user or dialling `to`, and its terminal callback says so.
    url = callback_sink.url_for("click_to_call_status")
    for form in ("08516043026", "+918516043026"):
        again = create(client, contract, call_body(
            **{"from": {"contact_uri": form, "state_management": True}}, to="9876516845",
            status_callback=[{"event": "terminal", "url": url}]))
        assert not placed(again)
        legs = get_legs(client, contract, again["sid"])
        assert [(leg["status"], leg["answer_time"]) for leg in legs] == [("busy", None)]
        sid = again["sid"]
        received = callback_sink.wait_for(
            "click_to_call_status", where=lambda p, sid=sid: p["call_details"]["sid"] == sid)
        assert received.payload["call_details"]["status"] == "busy"
        assert received.errors == []
    assert [c["Status"] for c in list_v1(client, contract)["Calls"]] == [
        "busy", "busy", "in-progress"]

    # Without state management the number is neither checked nor made busy.
    assert placed(create(client, contract, call_body(to="9876516846")))
    # Another account's user of the same number is not this account's.
    other = client.post("/v3/accounts/other/calls", auth=OTHER,
                        json=call_body(**{"from": managed}, virtual_number="+918045671234"))
    assert other.status_code == 200, other.text
    assert placed(other.json()["response"]["call_details"])

    advance(client, 15)
    assert get_call(client, contract, first["sid"])["state"] == "active"
    assert not placed(create(client, contract, call_body(**{"from": managed})))
    advance(client, 1)
    assert get_call(client, contract, first["sid"])["state"] == "terminal"
    assert placed(create(client, contract, call_body(**{"from": managed})))


def test_busy_ends_with_an_unanswered_call_too(client, contract):
    managed = {"contact_uri": "9876500000", "state_management": True}
    create(client, contract, call_body(**{"from": managed}, attempt_time_out=10))
    advance(client, 9)
    assert not placed(create(client, contract, call_body(**{"from": managed})))
    advance(client, 1)
    assert placed(create(client, contract, call_body(**{"from": managed})))


def test_the_to_number_state_is_not_checked(client, contract):
    managed = {"contact_uri": "8516043026", "state_management": True}
    create(client, contract, call_body(**{"from": managed}))
    assert placed(create(client, contract, call_body(
        **{"from": {"contact_uri": "9876516844", "state_management": True}}, to="8516043026")))


# -- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "mentions"),
    [
        (lambda b: b.pop("to"), "to"),
        (lambda b: b["to"].update(contact_uri="12345"), "to.contact_uri"),
        (lambda b: b["to"].update(contact_uri="5555555555"), "to.contact_uri"),
        (lambda b: b.update(virtual_number="2000000000"), "virtual_number"),
        (lambda b: b.update(colour="red"), "colour"),
        (lambda b: b["from"].update(state_management="yes"), "from.state_management"),
        (lambda b: b.update(attempt_time_out=2), "attempt_time_out"),
        (lambda b: b.update(max_time_limit=14401), "max_time_limit"),
        (lambda b: b.update(status_callback=[{"event": "terminal", "url": "ftp://x"}]),
         "status_callback[0].url"),
        (lambda b: b.update(status_callback=[{"event": "terminal", "url": "http://a/1"},
                                             {"event": "terminal", "url": "http://a/2"}]),
         "status_callback"),
        (lambda b: b["to"].update(contact_uri="+918516043026"), "to.contact_uri"),
    ],
)
def test_an_invalid_body_is_400_with_code_10725(client, contract, change, mentions):
    body = call_body()
    change(body)
    error = assert_v3_error(client.post(CALLS, json=body), contract, "createCall", 400, 10725)
    assert error["message"] == "Invalid request body,failed parsing"
    assert mentions in error["description"]


@pytest.mark.parametrize("content", [b"{", b"", b"[]", b'"x"'])
def test_an_unparsable_body_is_400_with_code_10725(client, contract, content):
    response = client.post(CALLS, content=content, headers={"content-type": "application/json"})
    assert_v3_error(response, contract, "createCall", 400, 10725)


def test_a_body_that_is_not_json_is_415(client, contract):
    response = client.post(CALLS, content=b"from=1", headers={"content-type": "text/plain"})
    assert_v3_error(response, contract, "createCall", 415)


@pytest.mark.parametrize("vn", ["+919999999999", "+918045671234"])  # nobody's; `other`'s
def test_a_virtual_number_not_the_accounts_is_404(client, contract, vn):
    response = client.post(CALLS, json=call_body(virtual_number=vn))
    error = assert_v3_error(response, contract, "createCall", 404)
    assert vn in error["description"]


def test_credentials_of_another_account_are_403_everywhere(client, contract):
    sid = create(client, contract, call_body())["sid"]
    other = "/v3/accounts/other/calls"
    assert_v3_error(client.post(other, json=call_body()), contract, "createCall", 403)
    assert_v3_error(client.get(f"{other}/{sid}"), contract, "getCall", 403)
    assert_v3_error(client.get(f"{other}/{sid}/legs"), contract, "getCallLegs", 403)
    assert_v1_error(client.get("/v1/Accounts/other/Calls"), contract, "listCalls", 403)
    assert_v1_error(client.get(f"/v1/Accounts/other/Calls/{sid}"), contract, "getCallV1", 403)
    # An account that does not exist is not the credentials' either.
    assert_v3_error(client.get(f"/v3/accounts/Exotel/calls/{sid}"), contract, "getCall", 403)


def test_missing_or_wrong_credentials_are_401(client, contract):
    anonymous = {"auth": None}
    assert_v3_error(client.post(CALLS, json=call_body(), **anonymous), contract, "createCall", 401)
    wrong = client.get(f"{CALLS}/x", auth=("demo_key", "nope"))
    assert_v3_error(wrong, contract, "getCall", 401)
    assert_v1_error(client.get(V1, **anonymous), contract, "listCalls", 401)


def test_an_unknown_call_is_404(client, contract):
    unknown = "1f0e2d3c4b5a69788796a5b4c3d2e1f0"
    assert_v3_error(client.get(f"{CALLS}/{unknown}"), contract, "getCall", 404)
    legs = client.get(f"{CALLS}/{unknown}/legs")
    assert_v3_error(legs, contract, "getCallLegs", 404)
    assert "call_details" not in legs.json()["response"]
    message = assert_v1_error(client.get(f"{V1}/{unknown}"), contract, "getCallV1", 404)
    assert message == f"Call {unknown} not found in account demo"


def test_another_accounts_call_is_404(client, contract):
    response = client.post("/v3/accounts/other/calls", auth=OTHER,
                           json=call_body(virtual_number="+918045671234"))
    sid = response.json()["response"]["call_details"]["sid"]
    assert client.get(f"/v3/accounts/other/calls/{sid}", auth=OTHER).status_code == 200
    assert_v3_error(client.get(f"{CALLS}/{sid}"), contract, "getCall", 404)
    assert_v1_error(client.get(f"{V1}/{sid}"), contract, "getCallV1", 404)
    assert list_v1(client, contract)["Calls"] == []


def test_injected_fault_is_500_in_the_v3_envelope(client, contract):
    client.post("/_mock/faults", json={"internal_errors": 2})
    assert_v3_error(client.post(CALLS, json=call_body()), contract, "createCall", 500)
    assert_v1_error(client.get(V1), contract, "listCalls", 500)
    create(client, contract, call_body())


# -- v1 --------------------------------------------------------------------------------------------


def test_v1_call_follows_the_call(client, contract):
    body = copy.deepcopy(DOCUMENTED)
    del body["status_callback"]  # no callback to the document's receiver
    sid = create(client, contract, body)["sid"]
    call = get_v1(client, contract, sid)
    assert (call["Status"], call["EndTime"], call["Duration"], call["Price"]) == (
        "in-progress", None, None, None)
    assert (call["From"], call["To"], call["PhoneNumberSid"]) == (
        "08516043026", "09876516844", "02235499102")
    assert (call["AccountSid"], call["Direction"], call["DateCreated"]) == (
        "demo", "outbound-api", "2026-01-01 05:30:00")
    advance(client, 16)
    call = get_v1(client, contract, sid)
    assert (call["Status"], call["EndTime"], call["Duration"], call["Price"]) == (
        "completed", "2026-01-01 05:30:16", 16, "0.500")
    assert call["RecordingUrl"]


def test_hung_up_before_to_answers_is_canceled_and_no_answer_in_v1(client, contract):
    sid = create(client, contract, call_body())["sid"]
    advance(client, 4)
    response = client.post(f"/_mock/calls/{sid}/hangup")
    assert response.json() == {"sid": sid, "account_sid": "demo", "state": "terminal",
                               "status": "canceled"}
    details = get_call(client, contract, sid)
    assert (details["status"], details["total_duration"], details["total_talk_time"]) == (
        "canceled", 4, 0)
    assert [leg["status"] for leg in get_legs(client, contract, sid)] == ["completed", "canceled"]
    v1 = get_v1(client, contract, sid)
    assert (v1["Status"], v1["Price"]) == ("no-answer", "0.500")


def test_hangup_control(client, contract):
    control_spec = yaml.safe_load((OPENAPI_DIR / "mock-control.yaml").read_text())
    path = "/_mock/calls/{call_sid}/hangup"
    sid = create(client, contract, call_body(to="9876500003"))["sid"]
    advance(client, 100)
    response = client.post(f"/_mock/calls/{sid}/hangup")
    assert response.status_code == 200
    check_control_answer(control_spec, "POST", path, response)
    details = get_call(client, contract, sid)
    assert (details["status"], details["total_talk_time"]) == ("completed", 94)

    again = client.post(f"/_mock/calls/{sid}/hangup")
    assert again.status_code == 409
    check_control_answer(control_spec, "POST", path, again)
    unknown = client.post("/_mock/calls/nope/hangup")
    assert unknown.status_code == 404
    check_control_answer(control_spec, "POST", path, unknown)


def _some_calls(client: TestClient, contract: Contract) -> list[str]:
    """Five calls, one a minute, all over: completed, completed, busy (`to`), no-answer (`from`),
    completed."""
    plan = [
        ("8516043026", "9876516844"),
        ("8516043027", "9876516844"),
        ("8516043026", "9876500001"),
        ("9876500000", "9876516844"),
        ("8516043028", "9876516847"),
    ]
    sids = []
    for from_, to in plan:
        sids.append(create(client, contract, call_body(from_, to))["sid"])
        advance(client, 60)
    return sids


def test_v1_list_newest_first_with_metadata(client, contract):
    sids = _some_calls(client, contract)
    page = list_v1(client, contract)
    assert [c["Sid"] for c in page["Calls"]] == sids[::-1]
    assert page["Metadata"] == {"Total": 5, "PageSize": 50,
                                "FirstPageUri": f"{V1}?PageSize=50",
                                "PrevPageUri": None, "NextPageUri": None}
    page = list_v1(client, contract, SortBy="DateCreated:asc")
    assert [c["Sid"] for c in page["Calls"]] == sids


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"To": "9876516844"}, [0, 1, 3]),
        ({"To": "+919876516844,09876516847"}, [0, 1, 3, 4]),
        ({"From": "08516043026"}, [0, 2]),
        ({"Status": "busy,no-answer"}, [2, 3]),
        ({"Status": "completed"}, [0, 1, 4]),
        ({"PhoneNumber": "02235499102"}, [0, 1, 2, 3, 4]),
        ({"PhoneNumber": OTHER_VN}, []),
        ({"Direction": "inbound"}, []),
        ({"Direction": "inbound,outbound-api"}, [0, 1, 2, 3, 4]),
        ({"DateCreated": "gte:2026-01-01 05:31:00;lte:2026-01-01 05:33:00"}, [1, 2, 3]),
        ({"DateCreated": "lte:2026-01-01 05:30:59"}, [0]),
        ({"Duration": "gte:20"}, [3]),
        ({"Duration": "lte:10"}, [2]),
        ({"Price": "gte:0.5"}, [0, 1, 2, 4]),  # `from` answered the busy call
        ({"Price": "lte:0"}, [3]),
        ({"To": "9876516844", "Status": "completed"}, [0, 1]),
        ({"Unknown": "ignored", "To": "9876516847"}, [4]),
    ],
)
def test_v1_list_filters(client, contract, params, expected):
    sids = _some_calls(client, contract)
    page = list_v1(client, contract, SortBy="DateCreated:asc", **params)
    assert [c["Sid"] for c in page["Calls"]] == [sids[i] for i in expected]
    assert page["Metadata"]["Total"] == len(expected)
    assert "Unknown" not in page["Metadata"]["FirstPageUri"]


def test_v1_list_filters_by_sid_and_shows_active_calls(client, contract):
    sids = _some_calls(client, contract)
    page = list_v1(client, contract, Sid=f"{sids[1]},{sids[4]}")
    assert [c["Sid"] for c in page["Calls"]] == [sids[4], sids[1]]
    active = create(client, contract, call_body())["sid"]
    page = list_v1(client, contract, Status="in-progress")
    assert [c["Sid"] for c in page["Calls"]] == [active]


def test_v1_list_pages_by_cursor(client, contract):
    sids = _some_calls(client, contract)[::-1]  # newest first
    first = list_v1(client, contract, PageSize=2, To="9876516844,9876500001,9876516847")
    assert [c["Sid"] for c in first["Calls"]] == sids[:2]
    meta = first["Metadata"]
    assert meta["PrevPageUri"] is None
    assert meta["FirstPageUri"] == f"{V1}?To=9876516844,9876500001,9876516847&PageSize=2"
    assert meta["NextPageUri"] == f"{meta['FirstPageUri']}&After={sids[1]}"

    second = client.get(meta["NextPageUri"]).json()
    assert contract.response_errors("listCalls", 200, second) == []
    assert [c["Sid"] for c in second["Calls"]] == sids[2:4]
    third = client.get(second["Metadata"]["NextPageUri"]).json()
    assert [c["Sid"] for c in third["Calls"]] == sids[4:]
    assert third["Metadata"]["NextPageUri"] is None
    assert third["Metadata"]["Total"] == 5

    back = client.get(third["Metadata"]["PrevPageUri"]).json()
    assert contract.response_errors("listCalls", 200, back) == []
    assert [c["Sid"] for c in back["Calls"]] == sids[2:4]
    front = client.get(back["Metadata"]["PrevPageUri"]).json()
    assert [c["Sid"] for c in front["Calls"]] == sids[:2]
    assert front["Metadata"]["PrevPageUri"] is None


@pytest.mark.parametrize(
    "params",
    [
        {"Status": "ringing"},
        {"Sid": "short"},
        {"To": "12"},
        {"To": "5555555555"},
        {"DateCreated": "2026-01-01"},
        {"DateCreated": "gte:0000-00-00 00:00:00"},
        {"DateCreated": "lte:2026-02-30 10:00:00"},
        {"Duration": "gte:ten"},
        {"PageSize": "0"},
        {"PageSize": "101"},
        {"PageSize": "many"},
        {"SortBy": "Price:asc"},
        {"After": "1f0e2d3c4b5a69788796a5b4c3d2e1f0"},
        {"After": "a", "Before": "b"},
    ],
)
def test_v1_list_refuses_malformed_filters(client, contract, params):
    assert_v1_error(client.get(V1, params=params), contract, "listCalls", 400)


def test_reset_forgets_calls_and_busy_users(client, contract):
    managed = {"contact_uri": "8516043026", "state_management": True}
    create(client, contract, call_body(**{"from": managed}))
    client.post("/_mock/reset", json={"tenant_id": "demo"})
    assert list_v1(client, contract)["Calls"] == []
    assert placed(create(client, contract, call_body(**{"from": managed})))


def test_sip_parties_and_string_booleans_are_refused(client, contract):
    # Document 003 shows `sip:` only as a Connect applet destination and `state_management` as
    # a JSON boolean; the README's behaviour table gives the reasons.
    for body in (
        call_body(from_="sip:gauravjfb55d386"),
        call_body(to="sip:gauravjfb55d386"),
        call_body(**{"from": {"contact_uri": "8516043026", "state_management": "true"}}),
    ):
        response = client.post(CALLS, json=body)
        assert_v3_error(response, contract, "createCall", 400, code=10725)
    assert client.get(V1).json()["Metadata"]["Total"] == 0
