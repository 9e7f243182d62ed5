"""The suite's transport: what it waits for, what it sends again, and what it refuses to."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests

from contract_tests.ci.weather_proxy import Weather, WeatherProxy
from contract_tests.contract import Contract
from contract_tests.reconcile import REFUSED, Reconciler, basic_authorization
from contract_tests.transport import (
    Patience,
    PatientAdapter,
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


def test_what_the_contract_refuses_may_be_sent_again():
    reconciler = Reconciler(Contract(), "exoct-", AUTH, adopt=lambda *_: True)
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
    assert reconciler(prepared("PATCH", greenpin), lambda request: None) == (
        REFUSED, None)


def test_a_lost_greenpin_create_is_found_by_its_transaction_id():
    adopted: list[str] = []
    reconciler = Reconciler(Contract(), "exoct-", AUTH,
                            adopt=lambda allocation_id, _: not adopted.append(allocation_id))
    searched: list[requests.PreparedRequest] = []

    def search(found: list[dict[str, str]]) -> object:
        def send(request: requests.PreparedRequest) -> requests.Response:
            searched.append(request)
            answer = requests.Response()
            answer.status_code = 200
            answer._content = (b'{"data": ' + str(found).replace("'", '"').encode() + b"}")
            return answer
        return send

    create = prepared("POST", "/v1/tenants/demo/greenpin", {"transaction_id": "exoct-7"})
    applied = [{"greenpin_id": "g-1", "state": "active"}]
    assert reconciler.find_greenpin(create, search(applied)) == ("applied", "g-1")
    assert adopted == ["g-1"]  # to be deleted at the end of the run
    assert "transaction_id=exoct-7" in (searched[-1].url or "")
    assert searched[-1].headers["authorization"] == basic_authorization(AUTH)
    assert reconciler.find_greenpin(create, search([])) == ("absent", None)
    unmarked = prepared("POST", "/v1/tenants/demo/greenpin", {"transaction_id": "other"})
    assert reconciler.find_greenpin(unmarked, search([])) is None


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
