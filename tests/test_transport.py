"""The suite's transport: what it waits for, what it sends again, and what it refuses to."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from contract_tests.ci.weather_proxy import Weather, WeatherProxy
from contract_tests.contract import Contract
from contract_tests.reconcile import Reconciler, basic_authorization
from contract_tests.target import Guard
from contract_tests.transport import (
    APPLIED,
    REFUSED,
    UNIQUE,
    Found,
    Patience,
    PatientAdapter,
    Send,
    ServerUnavailable,
    patient_session,
    retry_after,
    unavailable_first,
)

from .test_weather_proxy import echo_server

AUTH = ("demo_key", "demo_token")


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with echo_server() as base:
        yield base


@contextmanager
def session_through(weather: Weather, upstream: str, **patience: float) -> Iterator[
        tuple[requests.Session, WeatherProxy]]:
    with WeatherProxy(upstream, weather) as proxy:
        adapter = PatientAdapter(Patience(**patience))
        session = patient_session(adapter)
        # The server answered once: a later refusal is a blip, not a wrong address.
        adapter.answered = True
        yield session, proxy
        session.close()


def test_retry_after_in_seconds_or_as_a_date():
    assert retry_after({"retry-after": "7"}) == 7
    when = email.utils.formatdate(1_000_030, usegmt=True)
    assert retry_after({"retry-after": when}, now=1_000_000) == pytest.approx(30)
    assert retry_after({}) is None
    assert retry_after({"retry-after": "soon"}) is None


def test_429_is_waited_out_as_long_as_retry_after_says(upstream: str):
    weather = Weather(throttle_every=2, retry_after=1)
    with session_through(weather, upstream) as (session, proxy):
        assert session.get(proxy.url + "/a").status_code == 200
        started = time.monotonic()
        assert session.get(proxy.url + "/b").status_code == 200  # its 429 was not handed back
        assert time.monotonic() - started >= 1.0
        assert proxy.counts["throttle"] == 1


def test_an_endless_503_is_unavailable(upstream: str):
    with session_through(Weather(unavailable=1.0, retry_after=0), upstream,
                         retries=2) as (session, proxy):
        with pytest.raises(ServerUnavailable, match="answered 503 after 3 attempt"):
            session.get(proxy.url + "/c")
        assert proxy.counts["unavailable"] == 3


def test_without_retry_after_the_waits_grow_and_stop_at_max_wait(upstream: str):
    with session_through(Weather(unavailable=1.0, retry_after=None), upstream,
                         backoff=0.1, max_wait=0.35) as (session, proxy):
        started = time.monotonic()
        with pytest.raises(ServerUnavailable):
            session.get(proxy.url + "/d")
        # Waited 0.1 then 0.2 s; a third wait (0.4 s) would pass max_wait.
        assert 0.3 <= time.monotonic() - started < 0.4
        assert proxy.counts["unavailable"] == 3


def test_a_timeout_is_retried_for_a_read_and_not_for_a_create(upstream: str):
    with session_through(Weather(latency=0.3), upstream, timeout=0.1,
                         retries=2, backoff=0.01) as (session, proxy):
        with pytest.raises(ServerUnavailable, match="ReadTimeout"):
            session.get(proxy.url + "/e")
        assert proxy.counts["requests"] == 3
        with pytest.raises(ServerUnavailable, match="not sent again"):
            session.post(proxy.url + "/v3/accounts/demo/calls", json={})
        time.sleep(0.35)
        assert proxy.counts["requests"] == 4  # the create was sent once


def prepared(method: str, path: str, body: object = None,
             auth: tuple[str, str] = AUTH) -> requests.PreparedRequest:
    return requests.Request(method, "http://127.0.0.1:9" + path, json=body,
                            auth=auth).prepare()


@cache
def contract() -> Contract:
    return Contract()


def reconciler(guard: Guard | None = None) -> Reconciler:
    return Reconciler(contract(), "exoct-", AUTH, guard or Guard(budget=100))


def answering(status: int, body: bytes,
              sent: list[requests.PreparedRequest] | None = None) -> Send:
    """A `send` that answers every request alike, keeping what it was sent."""
    def send(request: requests.PreparedRequest) -> requests.Response:
        if sent is not None:
            sent.append(request)
        return answer(status, body)
    return send


def test_what_the_contract_refuses_may_be_sent_again():
    reconciler = Reconciler(contract(), "exoct-", AUTH, Guard(budget=100))
    greenpin = "/v1/tenants/demo/greenpin"
    create = {"transaction_id": "exoct-1", "a": {"numbers": ["9812300001"],
                                                 "vns": ["+916292134464"]}}
    assert reconciler.refused_by_contract(prepared("PATCH", greenpin, create))
    assert reconciler.refused_by_contract(prepared("POST", greenpin, create, ("x", "y")))
    assert reconciler.refused_by_contract(prepared("POST", greenpin, {"a": 1}))
    assert not reconciler.refused_by_contract(prepared("POST", greenpin, create))
    assert not reconciler.refused_by_contract(prepared("POST", "/v3/accounts/demo/calls", {
        "from": {"contact_uri": "+919812300001"}, "to": {"contact_uri": "+919812300002"},
        "virtual_number": "+916292134464"}))
    assert reconciler(prepared("PATCH", greenpin), lambda request: None) == Found(REFUSED)
    connect = "/v1/Accounts/demo/Calls/connect"
    form = requests.Request("POST", "http://127.0.0.1:9" + connect, auth=AUTH, data={
        "From": "09812300001", "To": "09812300002", "CallerId": "02235499102"}).prepare()
    # A form's values are not judged by the JSON schema; without `.json` the path is the same.
    assert not reconciler.refused_by_contract(form)
    assert reconciler.refused_by_contract(prepared("POST", connect, {"From": "09812300001"}))


def test_a_lost_greenpin_create_is_found_by_its_transaction_id():
    guard = Guard(budget=100)
    searched: list[requests.PreparedRequest] = []
    create = prepared("POST", "/v1/tenants/demo/greenpin", {"transaction_id": "exoct-7"})
    applied = b'{"data": [{"greenpin_id": "g-1", "state": "active"}]}'
    assert reconciler(guard).find_greenpin(create, answering(200, applied, searched)) == Found(
        APPLIED, "g-1")
    assert list(guard.created) == ["g-1"]  # to be deleted at the end of the run
    assert "transaction_id=exoct-7" in (searched[-1].url or "")
    assert searched[-1].headers["authorization"] == basic_authorization(AUTH)
    assert reconciler(guard).find_greenpin(create, answering(200, b'{"data": []}')) == Found(
        "absent")
    unmarked = prepared("POST", "/v1/tenants/demo/greenpin", {"transaction_id": "other"})
    assert reconciler(guard).find_greenpin(unmarked, answering(200, b"[]")) is None


def test_a_lost_greenvn_create_is_sent_again_and_code_18_says_it_was_applied():
    guard = Guard(budget=100)
    vn = "/v1/tenants/demo/greenvn"
    guard.note("POST", "http://x" + vn, answer(200, b'{"data": {"greenvn_id": "v-1", '
                                                     b'"connection_id": "exoct-held"}}'))
    code_18 = answer(409, b'[{"code": 18, "status": 409}]')
    for connection_id, applied in (("exoct-new", True), ("exoct-held", False)):
        create = prepared("POST", vn, {"connection_id": connection_id, "aparty_numbers": [
            "9812300001"], "bparty_numbers": ["9812300002"], "usage": "twoway"})
        found = reconciler(guard)(create, answering(500, b""))
        assert found is not None
        assert found.state == UNIQUE
        assert found.verify is not None
        assert found.verify(answer(200, b"{}")) is None
        # Held by the run's allocation, code 18 is what the first request was answered too.
        assert (found.verify(code_18) is not None) is applied
    guard.note("DELETE", f"http://x{vn}/v-1", answer(200, b'{"data": {"greenvn_id": "v-1", '
                                                        b'"connection_id": "exoct-held"}}'))
    assert guard.connections == {}


def test_a_lost_call_is_looked_up_among_the_calls_by_its_numbers():
    guard = Guard(budget=100, server_date="Wed, 02 Dec 2026 00:30:00 GMT")
    guard.note("POST", "http://x/v3/accounts/demo/calls", answer(
        200, b'{"response": {"call_details": {"sid": "seen"}}}'))
    assert guard.calls == {"seen"}
    create = prepared("POST", "/v3/accounts/demo/calls", {
        "from": {"contact_uri": "09812300001"}, "to": {"contact_uri": "+919812300002"},
        "virtual_number": "02235499102"})
    listed: list[requests.PreparedRequest] = []
    only_seen = answering(200, b'{"Calls": [{"Sid": "seen"}]}', listed)
    assert reconciler(guard)(create, only_seen) == Found("absent")
    query = parse_qs(urlsplit(listed[0].url or "").query)
    assert urlsplit(listed[0].url or "").path == "/v1/Accounts/demo/Calls"
    assert query["From"] == ["09812300001"]
    assert query["To"] == ["+919812300002"]
    assert query["PhoneNumber"] == ["02235499102"]
    # Ten minutes before the server's latest answer, in IST.
    assert query["DateCreated"] == ["gte:2026-12-02 05:50:00"]
    another = answering(200, b'{"Calls": [{"Sid": "seen"}, {"Sid": "other"}]}')
    assert reconciler(guard)(create, another) == Found(APPLIED, "other")
    assert reconciler(guard)(create, another) == Found("absent")  # now known as the run's
    flow = requests.Request("POST", "http://127.0.0.1:9/v1/Accounts/demo/Calls/connect.json",
                            auth=AUTH, data={"From": "09812300001", "CallerId": "02235499102",
                                             "Url": "http://my.exotel.com/demo/exoml/start_"
                                                    "voice/245061"}).prepare()
    assert reconciler(guard)(flow, answering(200, b'{"Calls": []}', listed)) == Found("absent")
    assert parse_qs(urlsplit(listed[-1].url or "").query)["To"] == ["02235499102"]
    # The list refuses a number the create is refused for too (not valid, code 16).
    assert reconciler(guard)(create, answering(400, b"{}")) == Found(REFUSED)
    assert reconciler(guard)(create, answering(500, b"{}")) is None


def test_the_answer_to_a_repeat_can_say_the_first_was_applied(upstream: str):
    def repeat(request: requests.PreparedRequest, send: Send) -> Found:
        return Found(UNIQUE, verify=lambda answer: "code 18" if answer.status_code == 200
                     else None)

    with WeatherProxy(upstream, Weather(lose_first_answer_to=("POST /u",))) as proxy:
        adapter = PatientAdapter(Patience(), lookup=repeat)
        adapter.answered = True
        session = patient_session(adapter)
        with pytest.raises(ServerUnavailable, match=r"had applied the request \(code 18"):
            session.post(proxy.url + "/u", json={})
        assert proxy.counts["forward"] + proxy.counts["lose"] == 2  # sent again once


def answer(status: int, body: bytes) -> requests.Response:
    made = requests.Response()
    made.status_code = status
    made._content = body
    return made


def test_unavailability_behind_another_error_is_what_is_reported():
    def hypothesis_like() -> None:
        try:
            raise ServerUnavailable("POST /x: answered 503")
        except ServerUnavailable:
            raise RuntimeError("Inconsistent data generation!") from None

    with pytest.raises(ServerUnavailable, match="answered 503"), unavailable_first():
        hypothesis_like()
    with pytest.raises(RuntimeError), unavailable_first():
        raise RuntimeError("a failure of its own")
