"""The dashboard's page and the control-plane routes it reads (`routes/dashboard.py`)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from contract_tests.contract import OPENAPI_DIR
from mock_server.routes.dashboard import ASSETS

from .helpers import GP, allocation, check_control_answer, create

TOKEN = "a-control-token-of-some-length"
PAGE_WEIGHT_LIMIT = 200_000


@pytest.fixture(scope="module")
def control_spec() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((OPENAPI_DIR / "mock-control.yaml").read_text())
    return document


def numbered(n: int, **overrides: Any) -> dict[str, Any]:
    """An allocation whose numbers no other `numbered` allocation shares."""
    return allocation(f"order-{n}", **{
        "a": {"numbers": [f"98765000{n:02}"], "vns": ["6292134464"]},
        "b": {"numbers": [f"98765001{n:02}"]},
        **overrides,
    })


def body(response: Any) -> dict[str, Any]:
    answer: dict[str, Any] = response.json()
    return answer


def test_the_page_and_its_assets_need_no_token_but_its_reads_do(make_client):
    client = make_client(control_token=TOKEN)
    page = client.get("/_mock/ui")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    weight = len(page.content)
    for name in ASSETS:
        asset = client.get(f"/_mock/ui/assets/{name}")
        assert asset.status_code == 200
        weight += len(asset.content)
    assert weight < PAGE_WEIGHT_LIMIT
    reads = ("/_mock/overview", "/_mock/allocations", "/_mock/calls", "/_mock/callbacks/recent")
    for path in reads:
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert client.post("/_mock/ui").status_code == 401  # only reading the page is open
    # A path that only starts like an asset's reaches nothing else.
    sneaking = client.get("/_mock/ui/assets/%2E%2E/%2E%2E/overview")
    assert sneaking.status_code == 404
    assert "clock" not in sneaking.text


def test_only_the_assets_are_served(client):
    for name in ("nope.js", "index.html", "..%2F..%2Fapp.py"):
        response = client.get(f"/_mock/ui/assets/{name}")
        assert response.status_code == 404
        assert "import" not in response.text
    assert client.get("/_mock/ui/assets/nope.js").json() == {"error": "no such dashboard asset"}


def test_allocations_come_newest_first_a_page_at_a_time(client, control_spec):
    ids = [create(client, numbered(n))["greenpin_id"] for n in range(1, 6)]
    first = client.get("/_mock/allocations", params={"tenant_id": "demo", "page_size": 2})
    check_control_answer(control_spec, "GET", "/_mock/allocations", first)
    assert body(first)["total"] == 5
    assert [a["id"] for a in body(first)["allocations"]] == ids[::-1][:2]
    last = body(client.get("/_mock/allocations", params={"page": 3, "page_size": 2}))
    assert [a["id"] for a in last["allocations"]] == ids[:1]
    beyond = body(client.get("/_mock/allocations", params={"page": 4, "page_size": 2}))
    assert (beyond["total"], beyond["allocations"]) == (5, [])
    countdown = body(first)["allocations"][0]
    assert countdown["deallocation_epoch"] > body(first)["clock"]["epoch_seconds"]


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("order-2", ["order-2"]),
        ("+919876500003", ["order-3"]),
        ("09876500004", ["order-4"]),  # national, with the trunk 0
        ("6292134465", ["order-5"]),  # a VN of the b party
        ("no-such-thing", []),
    ],
)
def test_the_search_finds_numbers_vns_and_transaction_ids(client, term, expected):
    for n in range(1, 6):
        b_vns = ["6292134465"] if n == 5 else ["6292134464"]
        create(client, allocation(f"order-{n}", a={"numbers": [f"98765000{n:02}"],
                                                  "vns": ["6292134464"]},
                                  b={"numbers": [f"98765001{n:02}"], "vns": b_vns}))
    found = body(client.get("/_mock/allocations", params={"q": term}))
    assert [a["ref"] for a in found["allocations"]] == expected
    assert found["total"] == len(expected)


def test_the_search_finds_a_pin_and_filters_by_state(client):
    kept = create(client, numbered(1, a={"numbers": ["9876500001"], "vns": ["6292134464"],
                                         "pin": "4321"}))
    gone = create(client, numbered(2))
    assert client.delete(f"{GP}/{gone['greenpin_id']}").status_code == 200
    by_pin = body(client.get("/_mock/allocations", params={"q": "4321"}))
    assert [a["id"] for a in by_pin["allocations"]] == [kept["greenpin_id"]]
    vault = body(client.get("/_mock/allocations", params={"state": "vault"}))
    assert [a["id"] for a in vault["allocations"]] == [gone["greenpin_id"]]


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"page_size": "0"}, 400, "page_size must be a whole number from 1 to 200"),
        ({"page_size": "201"}, 400, "page_size must be a whole number from 1 to 200"),
        ({"page": "1e3"}, 400, "page must be a whole number from 1 to 100000"),
        ({"page": "\uff11"}, 400, "page must be a whole number from 1 to 100000"),
        ({"page": "9" * 5000}, 400, "page must be a whole number from 1 to 100000"),
        ({"q": "x" * 5000}, 400, "q is longer than 64 characters"),
        ({"state": "gone"}, 400, "state must be active or vault"),
        ({"tenant_id": "nobody"}, 404, "no tenant 'nobody'"),
        ({"tenant_id": "n" * 5000}, 400, "tenant_id is longer than 64 characters"),
    ],
)
def test_bad_queries_get_a_short_clear_error(client, control_spec, params, status, message):
    create(client, allocation())
    response = client.get("/_mock/allocations", params=params)
    check_control_answer(control_spec, "GET", "/_mock/allocations", response)
    assert (response.status_code, response.json()) == (status, {"error": message})


def test_calls_show_their_legs_and_the_callbacks_they_caused(client, control_spec):
    create(client, allocation(a={"numbers": ["9876500001"], "vns": ["6292134464"], "pin": "1234"}))
    simulated = client.post("/_mock/calls/incoming", json={
        "vn": "6292134464", "from": "9876500077", "digits": "1234", "talk_seconds": 5})
    assert simulated.status_code == 200
    client.post("/_mock/clock/advance", json={"seconds": 60})
    answer = client.get("/_mock/calls", params={"tenant_id": "demo"})
    check_control_answer(control_spec, "GET", "/_mock/calls", answer)
    (call,) = body(answer)["calls"]
    assert call["sid"] == simulated.json()["call_sid"]
    assert (call["kind"], call["from"], call["outcome"]) == ("incoming", "+919876500077",
                                                           "completed")
    assert [leg["leg_number"] for leg in call["legs"]] == [1, 2]
    assert call["legs"][1]["contact"] == "+919876500002"
    assert [c["event"] for c in call["callbacks"]] == [
        "verification_succeeded", "call_completed"]
    logged = {d["id"] for d in client.get("/_mock/callbacks").json()["callbacks"]}
    assert {c["id"] for c in call["callbacks"]} <= logged


def test_recent_callbacks_come_newest_first_with_their_schema_verdict(client, control_spec):
    create(client, numbered(1, deallocation_policy={"duration": "10s"}))
    create(client, numbered(2, deallocation_policy={"duration": "20s"}))
    client.post("/_mock/clock/advance", json={"seconds": 30})
    answer = client.get("/_mock/callbacks/recent", params={"page_size": 1})
    check_control_answer(control_spec, "GET", "/_mock/callbacks/recent", answer)
    (newest,) = body(answer)["callbacks"]
    assert body(answer)["total"] == 2
    assert (newest["event"], newest["payload"]["transaction_id"]) == ("deallocation", "order-2")
    assert newest["schema_errors"] is None
    odd = client.get("/_mock/callbacks/recent", params={"outcome": "lost"})
    assert (odd.status_code, odd.json()) == (
        400, {"error": "outcome must be one of pending, delivered, failed, not_sent"})


def test_a_fake_callback_of_any_event_is_logged_and_sent(client, control_spec):
    sent = client.post("/_mock/callbacks/fake", json={
        "event": "click_to_call_status", "url": "http://127.0.0.1:9/hook", "seed": 7})
    check_control_answer(control_spec, "POST", "/_mock/callbacks/fake", sent)
    assert sent.status_code == 202
    assert (sent.json()["event"], sent.json()["url"]) == ("click_to_call_status",
                                                         "http://127.0.0.1:9/hook")
    (logged,) = body(client.get("/_mock/callbacks/recent"))["callbacks"]
    assert logged["id"] == sent.json()["id"]
    assert logged["schema_errors"] is None


@pytest.mark.parametrize(
    ("request_body", "status"),
    [
        ({"event": "no_such_event", "url": "http://127.0.0.1:9/x"}, 400),
        ({"event": "connect_applet_request", "url": "http://127.0.0.1:9/x"}, 400),
        ({"event": "connect_applet_response", "url": "http://127.0.0.1:9/x"}, 400),
        ({"event": "deallocation", "url": "ftp://127.0.0.1/x"}, 400),
        ({"event": "deallocation", "url": "http://[::1"}, 400),
        ({"event": "deallocation", "url": "http://h/" + "x" * 5000}, 400),
        ({"event": "deallocation", "url": "http://127.0.0.1:9/x", "extra": 1}, 400),
        ({"event": "deallocation", "url": "http://127.0.0.1:9/x", "seed": -1}, 400),
        ({"event": "deallocation"}, 400),
        ({"event": "deallocation", "url": "http://127.0.0.1:9/x", "tenant_id": "nobody"}, 404),
    ],
)
def test_a_refused_fake_callback_changes_nothing(client, control_spec, request_body, status):
    response = client.post("/_mock/callbacks/fake", json=request_body)
    check_control_answer(control_spec, "POST", "/_mock/callbacks/fake", response)
    assert response.status_code == status
    assert len(response.json()["error"]) < 400  # never the whole input back
    assert client.get("/_mock/callbacks").json()["callbacks"] == []


def test_the_overview_counts_each_tenants_allocations_and_calls(client, control_spec):
    created = create(client, numbered(1))
    create(client, numbered(2))
    client.delete(f"{GP}/{created['greenpin_id']}")
    answer = client.get("/_mock/overview")
    check_control_answer(control_spec, "GET", "/_mock/overview", answer)
    demo = next(t for t in body(answer)["tenants"] if t["tenant_id"] == "demo")
    assert (demo["active"], demo["vault"], demo["calls"]) == (1, 1, 0)
    assert "+916292134464" in demo["vns"]
    assert "deallocation" in body(answer)["events"]
    # The fake form offers what a receiver gets as a POST: not the Connect applet's GET.
    assert "deallocation" in body(answer)["posted_events"]
    assert "connect_applet_request" in body(answer)["events"]
    assert not {"connect_applet_request", "connect_applet_response"} & set(
        body(answer)["posted_events"])


def test_a_click_to_call_shows_its_legs_and_status_callbacks(client, control_spec):
    url = "http://127.0.0.1:9/status"
    placed = client.post("/v3/accounts/demo/calls", json={
        "from": {"contact_uri": "8516043026"}, "to": {"contact_uri": "9876516844"},
        "virtual_number": "+912235499102",
        "status_callback": [{"event": "answered", "url": url}, {"event": "terminal", "url": url}],
    })
    assert placed.status_code == 200, placed.text
    client.post("/_mock/clock/advance", json={"seconds": 60})
    answer = client.get("/_mock/calls")
    check_control_answer(control_spec, "GET", "/_mock/calls", answer)
    (call,) = body(answer)["calls"]
    assert (call["kind"], call["state"], call["outcome"]) == ("click_to_call", "terminal",
                                                            "completed")
    assert [(leg["start_offset"], leg["answer_offset"]) for leg in call["legs"]] == [
        (0, 3), (3, 6)]
    assert [c["event"] for c in call["callbacks"]] == ["click_to_call_status"] * 2


def test_a_call_in_progress_has_no_outcome_yet_and_its_answered_legs_are_talking(
    client, control_spec
):
    create(client, allocation(a={"numbers": ["7987686145"], "vns": ["6292134464"]}))
    simulated = client.post("/_mock/calls/incoming", json={
        "vn": "+916292134464", "from": "+917987686145", "talk_seconds": 600})
    assert simulated.status_code == 200, simulated.text
    client.post("/_mock/clock/advance", json={"seconds": 8})
    answer = client.get("/_mock/calls")
    check_control_answer(control_spec, "GET", "/_mock/calls", answer)
    (call,) = body(answer)["calls"]
    assert (call["state"], call["status"], call["outcome"]) == ("active", None, None)
    assert [(leg["state"], leg["status"]) for leg in call["legs"]] == [("talking", None)] * 2

    client.post("/_mock/clock/advance", json={"seconds": 600})
    (call,) = body(client.get("/_mock/calls"))["calls"]
    assert (call["state"], call["status"], call["outcome"]) == (
        "terminal", "completed", "completed")
    assert [(leg["state"], leg["status"]) for leg in call["legs"]] == [("ended", "completed")] * 2


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"event": "no_such_event"}, "event must be a callback event (the overview's events)"),
        ({"event": "e" * 5000}, "event is longer than 64 characters"),
        ({"outcome": "lost"}, "outcome must be one of pending, delivered, failed, not_sent"),
    ],
)
def test_an_unknown_event_or_outcome_filter_is_refused(client, control_spec, params, message):
    response = client.get("/_mock/callbacks/recent", params=params)
    check_control_answer(control_spec, "GET", "/_mock/callbacks/recent", response)
    assert (response.status_code, response.json()) == (400, {"error": message})
    known = client.get("/_mock/callbacks/recent", params={"event": "connect_applet_request"})
    assert known.status_code == 200
