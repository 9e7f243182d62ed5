"""The classic click-to-call `POST /v1/Accounts/{sid}/Calls/connect.json`, as classic SDKs send
it (form-encoded), answered as `getCallV1` and checked against the spec."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.testclient import TestClient

from contract_tests.contract import Contract

from .helpers import OTHER

V1 = "/v1/Accounts/demo/Calls"
CONNECT = f"{V1}/connect.json"
VN = "+912235499102"
FORM = {"From": "08516043026", "To": "09876516844", "CallerId": "02235499102",
        "CallType": "trans"}


def connect(client: TestClient, contract: Contract, form: Any, status: int = 200,
            **kwargs: Any) -> dict[str, Any]:
    response = client.post(CONNECT, data=form, **kwargs)
    assert response.status_code == status, response.text
    assert contract.response_errors("connectCallV1", status, response.json()) == []
    body: dict[str, Any] = response.json()
    return body


def advance(client: TestClient, seconds: float) -> None:
    assert client.post("/_mock/clock/advance", json={"seconds": seconds}).status_code == 200


def test_the_form_schema_accepts_what_a_classic_sdk_sends(contract):
    operation = contract.operations["connectCallV1"].definition
    form = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]
    validator = contract.validator(form["schema"])
    assert list(validator.iter_errors(form["examples"]["classic_sdk"]["value"])) == []
    assert not validator.is_valid({"From": "08516043026", "To": "09876516844"})
    assert not validator.is_valid({**FORM, "TimeLimit": 14401})


def test_a_classic_connect_places_a_click_to_call(client, contract):
    form = {**FORM, "TimeLimit": "900", "TimeOut": "30", "Record": "true",
            "CustomField": "order-7", "StatusCallback": "https://example.com/status",
            "StatusCallbackEvents[0]": "terminal", "Unknown": "ignored"}
    call = connect(client, contract, form)["Call"]
    assert (call["Status"], call["Direction"]) == ("in-progress", "outbound-api")
    assert (call["From"], call["To"], call["PhoneNumberSid"]) == (
        "08516043026", "09876516844", "02235499102")
    sid = call["Sid"]
    # The same call in the v3 API, with the classic parameters read as click-to-call's.
    details = client.get(f"/v3/accounts/demo/calls/{sid}").json()["response"]["call_details"]
    assert (details["custom_field"], details["direction"]) == ("order-7", "outbound")
    advance(client, 16)
    done = client.get(f"{V1}/{sid}").json()["Call"]
    assert (done["Status"], done["Duration"], done["Price"]) == ("completed", 16, "0.500")
    assert done["RecordingUrl"]
    assert sid in [c["Sid"] for c in client.get(V1).json()["Calls"]]


def test_time_limit_and_magic_numbers_apply(client, contract):
    sid = connect(client, contract, {**FORM, "To": "09876500003", "TimeLimit": "60"})["Call"]["Sid"]
    advance(client, 3 + 3 + 60)
    call = client.get(f"{V1}/{sid}").json()["Call"]
    assert (call["Status"], call["Duration"]) == ("completed", 66)
    busy = connect(client, contract, {**FORM, "From": "09876500001"})["Call"]["Sid"]
    advance(client, 1)
    assert client.get(f"{V1}/{busy}").json()["Call"]["Status"] == "busy"


def test_repeated_status_callback_events_are_accepted(client, contract):
    body = httpx.QueryParams([*FORM.items(), ("StatusCallbackEvents", "terminal"),
                              ("StatusCallbackEvents", "answered")])
    response = client.post(CONNECT, content=str(body),
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200, response.text
    assert contract.response_errors("connectCallV1", 200, response.json()) == []


def test_refusals_are_rest_exceptions(client, contract):
    cases = [
        ({"To": "09876516844", "CallerId": "02235499102"}, 400, "From"),
        ({**FORM, "To": "12345"}, 400, "To"),
        ({**FORM, "TimeOut": "soon"}, 400, "TimeOut"),
        ({**FORM, "StatusCallbackEvents[0]": "ringing"}, 400, "StatusCallbackEvents"),
        ({**FORM, "To": "05555555555"}, 400, "To is invalid"),
        ({**FORM, "To": FORM["From"]}, 400, "To 08516043026 is the same number as From"),
        ({**FORM, "CallerId": "+918045671234"}, 404, "CallerId +918045671234 is not a number"),
    ]
    for form, status, words in cases:
        body = connect(client, contract, form, status)
        assert body["RestException"]["Status"] == status
        assert words in body["RestException"]["Message"], body
    as_json = client.post(CONNECT, json=FORM)
    assert as_json.status_code == 415
    assert contract.response_errors("connectCallV1", 415, as_json.json()) == []
    for auth, status in ((None, 401), (OTHER, 403)):
        refused = client.post(CONNECT, data=FORM, auth=auth) if auth else client.post(
            CONNECT, data=FORM, auth=("demo_key", "wrong"))
        assert refused.status_code == status
        assert contract.response_errors("connectCallV1", status, refused.json()) == []
    assert client.get(V1).json()["Metadata"]["Total"] == 0


def test_connect_json_only_posts(client):
    for response in (client.get(CONNECT), client.put(CONNECT, data=FORM)):
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        assert response.json()["RestException"]["Status"] == 405
    assert client.get(f"{V1}/{'0' * 32}").status_code == 404


def test_the_classic_paths_with_and_without_json(client, contract):
    sids = [connect_at(client, contract, path, FORM)["Call"]["Sid"]
            for path in (CONNECT, f"{V1}/connect")]
    listed = client.get(f"{V1}.json")
    assert listed.status_code == 200
    assert [c["Sid"] for c in listed.json()["Calls"]] == sids[::-1]
    sid = sids[1]
    one = client.get(f"{V1}/{sid}.json")
    assert one.status_code == 200
    assert one.json()["Call"]["Sid"] == sid
    assert "Details" not in one.json()["Call"]
    for path in (f"{V1}/connect", f"{V1}/{sid}.json"):
        assert client.put(path, data=FORM).status_code == 405


def connect_at(client: TestClient, contract: Contract, path: str, form: Any,
               status: int = 200) -> dict[str, Any]:
    response = client.post(path, data=form)
    assert response.status_code == status, response.text
    assert contract.response_errors("connectCallV1", status, response.json()) == []
    body: dict[str, Any] = response.json()
    return body


def test_details_true_adds_the_legs_summary(client, contract):
    sid = connect(client, contract, FORM)["Call"]["Sid"]
    ringing = client.get(f"{V1}/{sid}", params={"details": "true"}).json()
    assert contract.response_errors("getCallV1", 200, ringing) == []
    assert ringing["Call"]["Details"] == {
        "ConversationDuration": 0, "Leg1Status": "in-progress", "Leg2Status": None,
        "Legs": [{"Leg": {"Id": 1, "OnCallDuration": 0}}]}
    advance(client, 16)
    done = client.get(f"{V1}/{sid}.json?details=true").json()
    assert contract.response_errors("getCallV1", 200, done) == []
    assert done["Call"]["Details"] == {
        "ConversationDuration": 10, "Leg1Status": "completed", "Leg2Status": "completed",
        "Legs": [{"Leg": {"Id": 1, "OnCallDuration": 13}},
                 {"Leg": {"Id": 2, "OnCallDuration": 10}}]}
    assert "Details" not in client.get(f"{V1}/{sid}?details=false").json()["Call"]
    assert client.get(f"{V1}/{sid}?details=maybe").status_code == 400


def test_a_flow_url_connects_from_to_the_flow(client, contract):
    form = {"From": "08516043026", "CallerId": "02235499102",
            "Url": "http://my.exotel.in/exoml/start/245061", "TimeLimit": "5"}
    call = connect(client, contract, form)["Call"]
    assert (call["To"], call["PhoneNumberSid"], call["Direction"]) == (
        "02235499102", "02235499102", "outbound-api")
    advance(client, 8)
    done = client.get(f"{V1}/{call['Sid']}?details=true").json()["Call"]
    assert (done["Status"], done["Duration"]) == ("completed", 8)
    assert done["Details"]["Leg2Status"] is None
    unanswered = connect(client, contract, {**form, "From": "09876500000", "TimeOut": "20"})
    advance(client, 20)
    assert client.get(f"{V1}/{unanswered['Call']['Sid']}").json()["Call"]["Status"] == "no-answer"


def test_flow_refusals_change_nothing(client, contract):
    flow = "http://my.exotel.in/exoml/start/245061"
    cases = [
        ({**FORM, "Url": flow}, 400),
        ({"From": "08516043026", "CallerId": "02235499102"}, 400),
        ({"From": "08516043026", "CallerId": "02235499102", "Url": "http://example.com/x"}, 400),
        ({"From": "08516043026", "CallerId": "02235499102",
          "Url": "http://my.exotel.in/exoml/start/1"}, 404),
        ({"From": "08516043026", "CallerId": "+918045671234", "Url": flow}, 404),
    ]
    for form, status in cases:
        assert connect(client, contract, form, status)["RestException"]["Status"] == status
    assert client.get(V1).json()["Metadata"]["Total"] == 0


def test_the_account_sid_stands_for_the_key_on_classic_paths_only(client, contract):
    classic = ("demo", "demo_token")
    assert connect(client, contract, FORM, auth=classic)["Call"]["Status"] == "in-progress"
    assert client.get(V1, auth=("demo", "wrong")).status_code == 401
    assert client.get("/v1/Accounts/other/Calls", auth=classic).status_code == 403
    assert client.get("/v3/accounts/demo/calls/" + "0" * 32, auth=classic).status_code == 401
    assert client.get("/v1/tenants/demo/greenpin", auth=classic).status_code == 401


def test_other_classic_resources_are_outside_the_contract(client):
    for method, path in (("POST", "/v1/Accounts/demo/Sms/send.json"),
                         ("GET", "/v1/Accounts/demo/IncomingPhoneNumbers"),
                         ("GET", f"{V1}/{'0' * 32}/Legs")):
        response = client.request(method, path)
        assert response.status_code == 404
        assert "is not part of this mock's contract" in response.json()["RestException"]["Message"]
