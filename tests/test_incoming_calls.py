"""Simulated calls to a VN: routing by number and PIN, oneway, and the callbacks in order."""

from __future__ import annotations

import copy
import re
from typing import Any

from .helpers import GP, allocation, check_control_answer, create, wait_until

A, B, STRANGER = "+919876500001", "+919876500002", "+919811122233"
VN = "+916292134464"


def call(client: Any, **body: Any) -> dict[str, Any]:
    response = client.post("/_mock/calls/incoming", json={"vn": VN, **body})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def advance(client: Any, seconds: float) -> None:
    assert client.post("/_mock/clock/advance", json={"seconds": seconds}).status_code == 200


def sink_urls(client: Any, sink: Any) -> None:
    events = ("call_completed", "verification_succeeded", "verification_failed")
    client.put("/_mock/tenants/demo/callback-urls", json={e: sink.url_for(e) for e in events})


def test_registered_caller_is_connected_to_the_other_party(client, callback_sink, contract):
    sink_urls(client, callback_sink)
    created = create(client, allocation())
    result = call(client, **{"from": A, "talk_seconds": 42})
    assert result["outcome"] == "connected"
    assert result["dialled"] == B
    assert result["allocation_id"] == created["greenpin_id"]
    assert result["verified"] is None
    assert result["callbacks"] == ["call_completed"]
    completed = callback_sink.wait_for("call_completed").payload
    assert contract.callback_errors("call_completed", completed) == []
    assert completed["to"] == B
    assert completed["on_call_duration"] == 42
    assert completed["on_call_duration"] <= completed["dial_call_duration"]
    assert completed["recording_url"].endswith(result["call_sid"] + ".mp3")
    assert completed["greenpin_id"] == created["greenpin_id"]
    # Times in UTC, as the documents' example of this callback and the fakes have them.
    assert completed["start_time"].endswith("+00:00")
    assert completed["current_time"].endswith("+00:00")


def test_stranger_with_the_right_pin_joins_the_party(client, callback_sink, contract):
    sink_urls(client, callback_sink)
    created = create(client, allocation())
    pin = created["a"]["pin"]
    result = call(client, **{"from": STRANGER, "digits": pin})
    assert (result["outcome"], result["verified"], result["party"]) == ("connected", True, "a")
    assert result["callbacks"] == ["verification_succeeded", "call_completed"]
    succeeded = callback_sink.wait_for("verification_succeeded").payload
    assert contract.callback_errors("verification_succeeded", succeeded) == []
    assert succeeded["caller"] == STRANGER
    # The caller is now a member: the allocation shows it, and the next call needs no PIN.
    data = client.get(GP + "/" + created["greenpin_id"]).json()["data"]
    assert STRANGER in data["a"]["numbers"]
    again = call(client, **{"from": STRANGER})
    assert (again["outcome"], again["verified"]) == ("connected", None)
    # The two callbacks of the first call arrive in order.
    wait_until(lambda: len(callback_sink.events()) >= 3)
    first_call = [c.event for c in callback_sink.events()
                  if c.payload.get("call_sid") == result["call_sid"]]
    assert first_call == ["verification_succeeded", "call_completed"]


def test_right_pin_from_a_number_registered_elsewhere_connects_without_joining(client):
    """The caller's number is another allocation's on one of the party's VNs: it cannot be
    registered there, so the call goes through without the caller joining the party."""
    other_vn = "+916292134465"
    created = create(client, allocation(a={"numbers": [A], "vns": [VN, other_vn]}))
    create(client, allocation("order-2", a={"numbers": [STRANGER], "vns": [other_vn]},
                              b={"numbers": ["9876500009"]}))
    result = call(client, **{"from": STRANGER, "digits": created["a"]["pin"]})
    assert (result["outcome"], result["verified"], result["party"]) == ("connected", True, "a")
    assert result["dialled"] == B
    data = client.get(GP + "/" + created["greenpin_id"]).json()["data"]
    assert data["a"]["numbers"] == [A]


def test_wrong_or_missing_pin_fails_verification(client, callback_sink, contract):
    sink_urls(client, callback_sink)
    create(client, allocation(a={"numbers": [A], "vns": [VN], "pin": "2468"}))
    wrong = call(client, **{"from": STRANGER, "digits": "1357"})
    assert (wrong["outcome"], wrong["verified"]) == ("verification_failed", False)
    assert wrong["callbacks"] == ["verification_failed"]
    failed = callback_sink.wait_for("verification_failed").payload
    assert contract.callback_errors("verification_failed", failed) == []
    assert failed["pin"] == "1357"
    missing = call(client, **{"from": STRANGER})
    assert missing["outcome"] == "verification_failed"
    assert "no PIN" in missing["reason"]


def test_oneway_refuses_b_party_callers(client, callback_sink, contract):
    sink_urls(client, callback_sink)
    create(client, allocation(usage="oneway"))
    refused = call(client, **{"from": B})
    assert refused["outcome"] == "refused_oneway"
    assert refused["dialled"] is None
    completed = callback_sink.wait_for("call_completed").payload
    assert contract.callback_errors("call_completed", completed) == []
    assert (completed["call_type"], completed["dial_call_status"]) == ("incomplete", "canceled")
    assert completed["on_call_duration"] == 0
    assert completed["recording_url"] is None
    assert call(client, **{"from": A})["outcome"] == "connected"


def test_unanswered_and_busy(client, callback_sink):
    sink_urls(client, callback_sink)
    create(client, allocation())
    unanswered = call(client, **{"from": A, "answered": False})
    assert (unanswered["outcome"], unanswered["dial_call_status"]) == ("not_answered", "no-answer")
    assert unanswered["on_call_duration"] == 0
    busy = call(client, **{"from": A, "busy": True})
    assert busy["dial_call_status"] == "busy"


def test_calls_with_nothing_to_reach_are_refused_with_a_reason(client):
    empty = call(client, **{"from": STRANGER, "digits": "1234"})
    assert empty["outcome"] == "no_allocation"
    assert VN in empty["reason"]
    assert empty["callbacks"] == []
    assert client.post("/_mock/calls/incoming",
                       json={"vn": "+919000000001", "from": A}).status_code == 404
    assert client.post("/_mock/calls/incoming",
                       json={"vn": VN, "from": "123"}).status_code == 400
    assert client.post("/_mock/calls/incoming",
                       json={"vn": VN, "from": A, "talk_seconds": 0}).status_code == 400


def test_answers_match_the_control_spec(client, contract):

    create(client, allocation())
    response = client.post("/_mock/calls/incoming", json={"vn": VN, "from": A})
    import yaml

    from contract_tests.contract import OPENAPI_DIR

    spec = yaml.safe_load((OPENAPI_DIR / "mock-control.yaml").read_text())
    check_control_answer(spec, "POST", "/_mock/calls/incoming", response)


def test_a_calls_callbacks_keep_their_order_through_retries(client, callback_sink):
    sink_urls(client, callback_sink)
    created = create(client, allocation())
    callback_sink.answer_next(500, 500)  # the verification callback needs two retries
    result = call(client, **{"from": STRANGER, "digits": created["a"]["pin"]})
    wait_until(lambda: len(callback_sink.events()) == 4)
    order = [c.event for c in callback_sink.events()]
    assert order == ["verification_succeeded"] * 3 + ["call_completed"]
    entries = client.get("/_mock/callbacks").json()["callbacks"]
    assert {e["outcome"] for e in entries} == {"delivered"}
    assert result["callbacks"] == ["verification_succeeded", "call_completed"]


def test_the_mock_and_the_fakes_make_payloads_of_one_shape(client, httpserver):
    """Both build their payloads with `domain.payloads`: the same members, in the same order,
    with times in the same form."""
    from mock_server.fakes import fake

    created = create(client, allocation())
    call(client, **{"from": A, "talk_seconds": 30})
    call(client, **{"from": STRANGER, "digits": created["a"]["pin"]})
    call(client, **{"from": "+919811100000", "digits": "0000"})
    client.delete(GP + "/" + created["greenpin_id"])
    # A click-to-call telling of its end, and a call on a VN with a Connect URL.
    httpserver.expect_request("/status", method="POST").respond_with_data("")
    status_url = httpserver.url_for("/status")
    click_to_call = {
        "from": {"contact_uri": "8516043026"}, "to": {"contact_uri": "9876516844"},
        "virtual_number": CONNECT_VN, "status_callback": [{"event": "terminal", "url": status_url}],
    }
    assert client.post("/v3/accounts/demo/calls", json=click_to_call).status_code == 200
    assert client.post("/_mock/clock/advance", json={"seconds": 60}).status_code == 200
    answer = {"destination": [{"contact_uri": "+919845043210"}]}
    httpserver.expect_request("/connect", method="GET").respond_with_json(answer)
    attached = client.put(f"/_mock/tenants/demo/vns/{CONNECT_VN}/connect-url",
                          json={"url": httpserver.url_for("/connect")})
    assert attached.status_code == 200, attached.text
    assert call(client, vn=CONNECT_VN, **{"from": STRANGER})["outcome"] == "connected"
    sent = {}
    for entry in client.get("/_mock/callbacks").json()["callbacks"]:
        sent.setdefault(entry["event"], entry["payload"])
    events = ("call_completed", "verification_succeeded", "verification_failed", "deallocation")
    assert set(events) <= set(sent)
    for event in events:
        made = fake(event, seed=1)
        assert list(sent[event]) == list(made), event
        for name in ("start_time", "current_time"):
            if name in made:
                assert sent[event][name][-6:] == made[name][-6:], (event, name)
    made_too = {
        "click_to_call_status": fake(
            "click_to_call_status", seed=1, overrides={"call_details.status": "completed"}
        ),
        "connect_applet_request": fake("connect_applet_request", seed=1),
    }
    for event, made in made_too.items():
        assert members(sent[event]) == members(made), event
        assert times(sent[event]) == times(made), event


CONNECT_VN = "+912235499102"
# The members that are times, in each event's form.
TIMES = {"created_time", "updated_time", "start_time", "end_time", "StartTime", "CurrentTime",
         "Created"}


def members(payload: Any) -> Any:
    """The members of a payload, in order, down through its objects."""
    if isinstance(payload, dict):
        return [(name, members(value)) for name, value in payload.items()]
    return None


def times(payload: Any) -> dict[str, str]:
    """The form of each time of a payload (digits as 0, letters as a, the offset kept)."""
    found: dict[str, str] = {}
    for name, value in payload.items():
        if isinstance(value, dict):
            found.update(times(value))
        elif name in TIMES and isinstance(value, str):
            offset = value[-6:] if "+" in value else ""
            form = re.sub(r"[A-Za-z]", "a", re.sub(r"[0-9]", "0", value.removesuffix(offset)))
            found[name] = form + offset
    return found


def test_a_oneway_b_party_registers_nothing(client):
    """B never calls through a oneway allocation: several may hold its number on one VN, each
    refusing its calls, while a twoway allocation claims it (code 19 when it is taken)."""
    first = create(client, allocation(usage="oneway"))
    advance(client, 1)
    second = create(client, allocation("order-2", usage="oneway",
                                       a={"numbers": ["9876500011"], "vns": ["6292134464"]}))
    refused = call(client, **{"from": B})
    assert (refused["outcome"], refused["party"]) == ("refused_oneway", "b")
    assert refused["allocation_id"] == second["greenpin_id"]
    # A PIN-only A party and a oneway B: a repeat is an allocation of its own, not a conflict.
    pins = [create(client, allocation(f"repeat-{n}", usage="oneway", a={"vns": [VN]}))["a"]["pin"]
            for n in range(3)]
    assert len(set(pins)) == 3

    twoway = client.post(GP, json=allocation("order-4", a={"numbers": ["9876500012"],
                                                           "vns": ["6292134464"]}))
    assert twoway.status_code == 200, twoway.text
    # Now B is registered: its calls reach the twoway allocation's B party.
    assert call(client, **{"from": B})["allocation_id"] == twoway.json()["data"]["greenpin_id"]
    # A oneway allocation turned twoway claims B's number, which is taken: code 19.
    taken = client.put(GP + "/" + first["greenpin_id"], json={"usage": "twoway"})
    assert (taken.status_code, taken.json()["code"]) == (409, 19)
    assert client.get(GP + "/" + first["greenpin_id"]).json()["data"]["usage"] == "oneway"
    # The twoway one turned oneway gives B up, and B's calls are refused again.
    freed = client.put(GP + "/" + twoway.json()["data"]["greenpin_id"], json={"usage": "oneway"})
    assert freed.status_code == 200, freed.text
    assert call(client, **{"from": B})["outcome"] == "refused_oneway"


def test_a_oneway_b_party_pin_stays_its_own(make_client, config):
    """Only the numbers of a oneway B party are given up: its PIN is still taken on the VN
    (code 4 for another allocation asking for it) and a stranger entering it is refused."""
    raw = copy.deepcopy(config)
    raw["tenants"]["demo"]["pins"] = {"a": True, "b": True}
    client = make_client(raw)
    client.auth = ("demo_key", "demo_token")
    create(client, allocation(usage="oneway", b={"numbers": [B], "pin": "5555"}))
    taken = client.post(GP, json=allocation("order-2", a={"numbers": ["9876500011"],
                                                          "vns": [VN], "pin": "5555"}))
    assert (taken.status_code, taken.json()["code"]) == (452, 4)
    joined = call(client, **{"from": STRANGER, "digits": "5555"})
    assert (joined["outcome"], joined["party"]) == ("refused_oneway", "b")


def test_a_refused_call_names_the_oneway_allocation_created_last(client):
    first = create(client, allocation(usage="oneway"))
    advance(client, 1)
    last = create(client, allocation("order-2", usage="oneway",
                                     a={"numbers": ["9876500011"], "vns": [VN]}))
    # Renewing the first re-indexes it; the call still names the one created last.
    renewed = client.put(GP + "/" + first["greenpin_id"],
                         json={"deallocation_policy": {"duration": "2d"}})
    assert renewed.status_code == 200, renewed.text
    assert call(client, **{"from": B})["allocation_id"] == last["greenpin_id"]
