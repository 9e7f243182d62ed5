"""Fake callbacks (`mock_server.fakes`, `exomock fake`, the `fake_callback` fixture)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from typing import Any

import phonenumbers
import pytest
from jsonschema import Draft202012Validator

from mock_server.fakes import EVENTS, call_sequence, fake, fake_many
from mock_server.spec import OPENAPI_DIR

SCHEMAS = {
    path.name.removesuffix(".schema.json"): json.loads(path.read_text(encoding="utf-8"))
    for path in sorted((OPENAPI_DIR / "callbacks").glob("*.schema.json"))
}
VALIDATORS = {event: Draft202012Validator(schema) for event, schema in SCHEMAS.items()}
SEEDS = range(400)


def assert_valid(event: str, payload: Any) -> None:
    errors = [
        f"{list(e.absolute_path)}: {e.message}" for e in VALIDATORS[event].iter_errors(payload)
    ]
    assert not errors, (event, payload, errors)


def is_indian_mobile(number: str) -> bool:
    parsed = phonenumbers.parse(number, None)
    return (
        number.startswith("+91")
        and len(number) == 13
        and number[3] in "6789"
        and phonenumbers.is_valid_number(parsed)
    )


@pytest.fixture(scope="module")
def many() -> dict[str, list[dict[str, Any]]]:
    """400 payloads of every event, seeds 0 to 399."""
    return {event: [fake(event, seed=seed) for seed in SEEDS] for event in EVENTS}


def test_events_are_the_callback_schemas() -> None:
    assert tuple(sorted(SCHEMAS)) == EVENTS
    assert len(EVENTS) == 8


@pytest.mark.parametrize("event", EVENTS)
def test_hundreds_of_seeds_give_valid_and_different_payloads(
    event: str, many: dict[str, list[dict[str, Any]]]
) -> None:
    payloads = many[event]
    for payload in payloads:
        assert_valid(event, payload)
    distinct = {json.dumps(p, sort_keys=True) for p in payloads}
    assert len(distinct) == len(payloads)


@pytest.mark.parametrize("event", EVENTS)
def test_same_seed_same_payload(event: str) -> None:
    first = fake(event, seed=42)
    fake(event, seed=43)  # in between, so that no state is carried over
    assert fake(event, seed=42) == first
    assert fake(event, seed=43) != first
    assert fake(event) != fake(event)


def test_the_global_random_is_left_alone() -> None:
    import random

    state = random.getstate()
    for event in EVENTS:
        fake(event, seed=1)
        fake(event)
    call_sequence(seed=1)
    assert random.getstate() == state


@pytest.mark.parametrize("event", EVENTS)
def test_fake_many(event: str) -> None:
    payloads = fake_many(event, 5, seed=9)
    assert payloads == fake_many(event, 5, seed=9)
    assert payloads[0] == fake(event, seed=9)
    assert len({json.dumps(p, sort_keys=True) for p in payloads}) == 5
    assert fake_many(event, 0) == []
    for payload in fake_many(event, 3):
        assert_valid(event, payload)


def test_unknown_event() -> None:
    with pytest.raises(ValueError, match=r"unknown event 'nope'.*call_completed"):
        fake("nope")


def parse(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None
    return moment


# -- consistency ---------------------------------------------------------------------------------


def test_call_completed_is_consistent(many: dict[str, list[dict[str, Any]]]) -> None:
    statuses = set()
    for p in many["call_completed"]:
        statuses.add(p["dial_call_status"])
        start, current = parse(p["start_time"]), parse(p["current_time"])
        elapsed = (current - start).total_seconds()
        assert elapsed >= p["dial_call_duration"] >= p["on_call_duration"] >= 0
        for number in (p["from"], p["to"], p["vn"]):
            assert is_indian_mobile(number), number
        answered = p["dial_call_status"] == "completed"
        assert (p["on_call_duration"] > 0) == answered
        if answered:
            assert p["call_type"] == "completed"
            assert p["to"] not in (p["vn"], p["from"])
        else:
            assert p["to"] == p["vn"]
            assert p["recording_url"] is None
            assert p["call_type"] in ("incomplete", "client-hangup")
        if p["recording_url"] is not None:
            assert answered
            assert p["call_sid"] in p["recording_url"]
        if p["dial_call_status"] == "canceled":
            assert p["dial_call_duration"] == 0
    assert statuses == {"completed", "busy", "no-answer", "failed", "canceled"}
    recorded = [p for p in many["call_completed"] if p["recording_url"]]
    assert 0 < len(recorded) < len(many["call_completed"])


def test_click_to_call_status_is_consistent(many: dict[str, list[dict[str, Any]]]) -> None:
    kinds = set()
    for p in many["click_to_call_status"]:
        d = p["call_details"]
        kinds.add((p["event_details"]["event_type"], d["status"]))
        assert d["sid"] in d["legs"]
        assert phonenumbers.is_valid_number(phonenumbers.parse(d["virtual_number"], "IN"))
        created, start = parse(d["created_time"]), parse(d["start_time"])
        updated = parse(d["updated_time"])
        assert created <= start <= updated
        if d["state"] == "active":
            assert d["recordings"] is None
            continue
        end = parse(d["end_time"])
        assert start <= end <= updated
        assert (end - start).total_seconds() == d["total_duration"]
        assert d["total_duration"] >= d["total_talk_time"] >= 0
        assert (d["total_talk_time"] > 0) == (d["status"] == "completed")
        if d["recordings"] is not None:
            assert d["status"] == "completed"
            assert d["sid"] in d["recordings"][0]["url"]
    assert ("answered", None) in kinds
    assert {s for e, s in kinds if e == "terminal"} == {
        "completed",
        "busy",
        "no-answer",
        "failed",
        "canceled",
    }


def test_connect_applet_request_is_consistent(many: dict[str, list[dict[str, Any]]]) -> None:
    attempts = 0
    for p in many["connect_applet_request"]:
        assert all(isinstance(v, str) for v in p.values())
        start = datetime.strptime(p["StartTime"], "%Y-%m-%d %H:%M:%S")
        current = datetime.strptime(p["CurrentTime"], "%Y-%m-%d %H:%M:%S")
        assert datetime.strptime(p["Created"], "%a, %d %b %Y %H:%M:%S") == start
        assert (current - start).total_seconds() >= int(p["DialCallDuration"])
        for number in (p["From"], p["To"]):
            assert number.startswith("0")
            assert phonenumbers.is_valid_number(phonenumbers.parse(number, "IN"))
        if p["DialWhomNumber"]:
            attempts += 1
        else:
            assert p["DialCallDuration"] == "0"
    assert 0 < attempts < len(many["connect_applet_request"])


def test_connect_applet_response_is_consistent(many: dict[str, list[dict[str, Any]]]) -> None:
    for p in many["connect_applet_response"]:
        ringing = p.get("parallel_ringing", {})
        if "max_parallel_attempts" in ringing:
            assert ringing["activate"]
            assert ringing["max_parallel_attempts"] <= len(p["destination"])
        uris = [d["contact_uri"] for d in p["destination"]]
        assert len(set(uris)) == len(uris)


def test_deallocation_is_consistent(many: dict[str, list[dict[str, Any]]]) -> None:
    for p in many["deallocation"]:
        numbers = p["aparty_numbers"] + p["bparty_numbers"]
        assert len(set(numbers)) == len(numbers)
        assert not set(numbers) & set(p["aparty_vns"] + p["bparty_vns"])
        for number in numbers + p["aparty_vns"] + p["bparty_vns"]:
            assert is_indian_mobile(number), number
        assert p["aparty_pins"]
        assert p["state"] == "vault"


def test_verifications_are_consistent(many: dict[str, list[dict[str, Any]]]) -> None:
    empty = 0
    for p in many["verification_failed"]:
        assert is_indian_mobile(p["caller"])
        assert is_indian_mobile(p["vn"])
        assert p["caller"] != p["vn"]
        empty += p["pin"] == ""
    assert 0 < empty < len(many["verification_failed"])
    for p in many["verification_succeeded"]:
        assert is_indian_mobile(p["caller"])
        assert is_indian_mobile(p["vn"])
        assert 3 <= len(p["pin"]) <= 6


def test_voice_message_status_is_consistent(many: dict[str, list[dict[str, Any]]]) -> None:
    pairs = {
        alt["properties"]["error_code"]["const"]: alt["properties"]["error_description"]["const"]
        for alt in SCHEMAS["voice_message_status"]["$defs"]["hangup_cause"]["oneOf"]
    }
    statuses = set()
    for p in many["voice_message_status"]:
        for item in p["data"]:
            statuses.add(item["status"])
            if "error_code" in item:
                assert pairs[item["error_code"]] == item["error_description"]
            assert item["micro_timestamp"] // 1000 == item["timestamp"]
            assert item["billed_duration"] >= item["actual_duration"]
            assert item["billed_duration"] - item["actual_duration"] < 60
            if item["status"] == "DELIVRD":
                ring, answer, hang = item["ring_date"], item["answer_date"], item["hang_date"]
                assert ring <= answer <= hang <= item["timestamp"]
                assert hang - answer == item["actual_duration"] > 0
            else:
                assert item["answer_date"] is False
                assert item["actual_duration"] == 0
                assert "keypress" not in item
            if item["status"] == "UNDELIV":
                assert item["error_code"] != 0
    assert statuses == {"DELIVRD", "UNDELIV", "REJECTD", "ACCEPTD", "UNKNOWN"}


# -- call sequences ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(50))
@pytest.mark.parametrize(("answered", "verified"), [(True, True), (False, True), (True, False)])
def test_call_sequence(seed: int, answered: bool, verified: bool) -> None:
    events = call_sequence(seed=seed, answered=answered, verified=verified)
    assert call_sequence(seed=seed, answered=answered, verified=verified) == events
    for event, payload in events:
        assert_valid(event, payload)
    names = [event for event, _ in events]
    first = "verification_succeeded" if verified else "verification_failed"
    assert names == [first, "call_completed", "deallocation"]
    verification, completed, deallocation = (payload for _, payload in events)

    assert verification["call_sid"] == completed["call_sid"]
    assert verification["caller"] == completed["from"]
    assert verification["vn"] == completed["vn"]
    assert completed["greenpin_id"] == deallocation["greenpin_id"]
    assert completed["transaction_id"] == deallocation["transaction_id"]
    assert completed["vn"] in deallocation["aparty_vns"]
    if verified:
        assert verification["greenpin_id"] == completed["greenpin_id"]
        assert verification["transaction_id"] == completed["transaction_id"]
        assert verification["pin"] in deallocation["aparty_pins"]
        # The caller joined the a party.
        assert completed["from"] in deallocation["aparty_numbers"]
    else:
        assert parse(verification["start_time"]) == parse(completed["start_time"])
        assert verification["pin"] not in deallocation["aparty_pins"] + deallocation["bparty_pins"]
        assert completed["from"] not in deallocation["aparty_numbers"]
        assert completed["call_type"] == "call-attempt"

    connected = verified and answered
    assert (completed["dial_call_status"] == "completed") == connected
    assert (completed["on_call_duration"] > 0) == connected
    if connected:
        assert completed["to"] in deallocation["bparty_numbers"]
    else:
        assert completed["to"] == completed["vn"]
        assert completed["recording_url"] is None


# -- overrides -----------------------------------------------------------------------------------


def test_overrides() -> None:
    base = fake("call_completed", seed=5)
    changed = fake(
        "call_completed", seed=5, overrides={"transaction_id": "ride-1", "vn": "+919845012345"}
    )
    assert changed == {**base, "transaction_id": "ride-1", "vn": "+919845012345"}

    nested = fake("click_to_call_status", seed=5, overrides={"call_details.custom_field": "x"})
    assert nested["call_details"]["custom_field"] == "x"
    assert_valid("click_to_call_status", nested)

    item = fake("voice_message_status", seed=5, overrides={"data.0.client_message_id": "m-1"})
    assert item["data"][0]["client_message_id"] == "m-1"

    # Missing objects on the way are created.
    created = fake("connect_applet_response", seed=5, overrides={"recording.channels": "dual"})
    assert created["recording"]["channels"] == "dual"


@pytest.mark.parametrize(
    ("event", "overrides", "message"),
    [
        ("call_completed", {"on_call_duration": -1}, "on_call_duration"),
        ("call_completed", {"surprise": 1}, "surprise"),
        ("verification_succeeded", {"pin": 1234}, "pin"),
        ("click_to_call_status", {"call_details.status": "exploded"}, "exploded"),
        ("voice_message_status", {"data.0.error_description": "NOPE"}, "voice_message_status"),
        ("voice_message_status", {"data.9.status": "DELIVRD"}, "not an index"),
        ("call_completed", {"vn.x": 1}, "no fields"),
        ("call_completed", {"a..b": 1}, "not a field path"),
    ],
)
def test_a_schema_breaking_override_raises(
    event: str, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        fake(event, seed=1, overrides=overrides)


def test_fake_callback_fixture(fake_callback: Any) -> None:
    assert fake_callback("deallocation", seed=1) == fake("deallocation", seed=1)
    changed = fake_callback("click_to_call_status", seed=1, call_details__custom_field="t-1")
    assert changed["call_details"]["custom_field"] == "t-1"
    assert fake_callback("call_completed", seed=1, **{"from": "+919845012345"})["from"] == (
        "+919845012345"
    )
    assert fake_callback.sequence(seed=3) == call_sequence(seed=3)
    assert len(fake_callback.many("deallocation", 2, seed=1)) == 2
    assert fake_callback.events == EVENTS


# -- the CLI -------------------------------------------------------------------------------------


def exomock(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mock_server", "fake", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def lines(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_cli_list() -> None:
    result = exomock("--list")
    assert result.returncode == 0, result.stderr
    assert tuple(result.stdout.split()) == EVENTS


def test_cli_count_seed_and_set() -> None:
    result = exomock("call_completed", "--count", "3", "--seed", "11")
    assert result.returncode == 0, result.stderr
    payloads = lines(result)
    assert len(payloads) == 3
    for payload in payloads:
        assert_valid("call_completed", payload)
    # The same seed gives the same lines, in another process too.
    assert exomock("call_completed", "--count", "3", "--seed", "11").stdout == result.stdout
    assert payloads == fake_many("call_completed", 3, seed=11)

    result = exomock(
        "click_to_call_status",
        "--seed", "2",
        "--set", "call_details.custom_field=order 7",
        "--set", 'call_details.digits="123"',
        "--set", "event_details.event_type=terminal",
        "--set", "call_details.state=terminal",
        "--set", "call_details.status=busy",
        "--set", "call_details.end_time=2025-06-01T10:00:00+05:30",
        "--set", "call_details.total_duration=30",
        "--set", "call_details.total_talk_time=0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (payload,) = lines(result)
    assert payload["call_details"]["custom_field"] == "order 7"
    assert payload["call_details"]["digits"] == "123"
    assert payload["call_details"]["total_duration"] == 30

    result = exomock("verification_succeeded", "--set", "pin=1234")
    assert result.returncode == 2
    assert "pin" in result.stderr
    assert "quote" in result.stderr
    assert exomock("deallocation", "--set", "usage").returncode == 2


def test_cli_unknown_event() -> None:
    result = exomock("nope")
    assert result.returncode == 2
    assert result.stdout == ""
    for event in EVENTS:
        assert event in result.stderr


def test_cli_send(httpserver: Any) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_json({})
    httpserver.expect_request("/applet", method="GET").respond_with_json(
        {"destination": [{"contact_uri": "+919845012345"}]}
    )
    result = exomock(
        "deallocation", "--count", "3", "--seed", "1", "--send", httpserver.url_for("/hook")
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count(" 200 in ") == 3
    assert [json.loads(request.get_data()) for request, _ in httpserver.log] == lines(result)
    assert all(
        request.headers["x-exomock-event"] == "deallocation" for request, _ in httpserver.log
    )
    httpserver.clear_log()

    result = exomock(
        "connect_applet_request", "--seed", "1", "--send", httpserver.url_for("/applet")
    )
    assert result.returncode == 0, result.stderr
    ((request, _),) = httpserver.log
    assert dict(request.args) == lines(result)[0]


def test_cli_send_fails_on_500(httpserver: Any) -> None:
    httpserver.expect_request("/hook").respond_with_data("no", status=500)
    result = exomock("call_completed", "--count", "2", "--send", httpserver.url_for("/hook"))
    assert result.returncode == 1
    assert result.stderr.count(" 500 in ") == 2
    assert len(lines(result)) == 2


def test_cli_send_fails_when_nobody_listens() -> None:
    from mock_server.testing import free_port

    result = exomock("deallocation", "--send", f"http://127.0.0.1:{free_port()}/hook")
    assert result.returncode == 1
    assert "error" in result.stderr


@pytest.mark.parametrize("seed", range(20))
def test_an_outcome_set_by_hand_brings_the_fields_that_follow_from_it(seed):
    for status in ("busy", "no-answer", "failed", "canceled"):
        payload = fake("call_completed", seed=seed, overrides={"dial_call_status": status})
        assert payload["dial_call_status"] == status
        assert payload["call_type"] in ("incomplete", "client-hangup")
        assert payload["on_call_duration"] == 0
        assert payload["recording_url"] is None
        assert payload["to"] == payload["vn"]
    done = fake("call_completed", seed=seed, overrides={"dial_call_status": "completed"})
    assert (done["call_type"], done["to"] != done["vn"]) == ("completed", True)
    assert done["on_call_duration"] > 0
    busy = fake("click_to_call_status", seed=seed, overrides={"call_details.status": "busy"})
    assert busy["event_details"]["event_type"] == "terminal"
    assert (busy["call_details"]["state"], busy["call_details"]["total_talk_time"]) \
        == ("terminal", 0)
    message = fake("voice_message_status", seed=seed, overrides={"data.0.status": "DELIVRD"})
    assert message["data"][0]["actual_duration"] > 0
    assert message["data"][0]["error_code"] == 0
    # Fields other than outcomes are still set as given, nothing else changes.
    same = fake("call_completed", seed=seed, overrides={"vn": "+916292134464"})
    assert {k: v for k, v in same.items() if k != "vn"} == \
        {k: v for k, v in fake("call_completed", seed=seed).items() if k != "vn"}
