"""The contract suite judges the contract, not the weather: through a proxy that throttles,
drops connections, answers 503 or is slow, a correct server still passes; a server that stays
unavailable is reported as not judged, apart from a broken contract.

Reduced from the full size (see `benchmarks/weather.py` and the README) to keep the project's
tests fast: 50 ms of latency, a few operations and scenarios each.
"""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from contract_tests.ci.weather_proxy import Weather, WeatherProxy
from contract_tests.contract import Contract
from contract_tests.reconcile import Reconciler
from contract_tests.target import Guard
from contract_tests.transport import Patience, PatientAdapter, ServerUnavailable, patient_session

from .helpers import example
from .test_contract_catches_broken_servers import broken_server, run_suite, unchanged

AUTH = ("demo_key", "demo_token")
GREENPIN = "POST /v1/tenants/demo/greenpin"
GREENVN = "POST /v1/tenants/demo/greenvn"
CALL = "POST /v3/accounts/demo/calls"


def test_throttled_the_suite_waits_and_passes():
    # The search answers 200, after which schemathesis probes it without credentials and with
    # wrong ones, outside the test's session: a 429 to a probe was judged "unexpected response
    # to invalid authentication" (ST401) until the probes went through the same transport.
    # Retry-After: 0 and 10 ms here, as the operation makes some 200 requests (that Retry-After: 1
    # is waited for is shown in test_transport.py).
    weather = Weather(throttle_every=5, retry_after=0, latency=0.01)
    with broken_server(unchanged) as base, WeatherProxy(base, weather) as proxy:
        code, output = run_suite(proxy.url, "operation_conforms and GET and greenpin and not "
                                 "greenpin_id", "--examples", "2")
    assert code == 0, output[-3000:]
    assert "contract: contract kept" in output
    assert proxy.counts["throttle"] >= 20


def test_dropped_connections_and_503_answers_are_retried_and_the_suite_passes():
    # The first GreenVN create is reset before the server sees it: it is sent again (a repeat
    # cannot allocate twice: code 18). (A call's: test_a_lost_call_is_looked_up_by_its_numbers.)
    weather = Weather(reset=0.05, unavailable=0.05, retry_after=0, seed=3,
                      reset_first_to=(GREENVN,))
    with broken_server(unchanged) as base, WeatherProxy(base, weather) as proxy:
        code, output = run_suite(proxy.url, "test_scenario and (greenpin_lifecycle or "
                                 "greenpin_errors or exhaustion or greenvn)")
    assert code == 0, output[-3000:]
    assert proxy.counts["reset first"] == 1
    assert proxy.counts["reset"] >= 3
    assert proxy.counts["unavailable"] >= 2


def test_a_slow_server_passes():
    with broken_server(unchanged) as base, WeatherProxy(base, Weather(latency=0.05)) as proxy:
        started = time.monotonic()
        code, output = run_suite(proxy.url, "test_scenario and greenpin_lifecycle")
        elapsed = time.monotonic() - started
    assert code == 0, output[-3000:]
    assert elapsed >= proxy.counts["requests"] * 0.05


def test_a_create_whose_answer_was_lost_is_looked_up_not_made_twice():
    # Each create is applied and its answer lost: the GreenPin is found by its transaction id;
    # the GreenVN create, sent again, is answered code 18. Neither test is judged, and nothing
    # was made twice.
    weather = Weather(lose_first_answer_to=(GREENPIN, GREENVN))
    with broken_server(unchanged) as base, WeatherProxy(base, weather) as proxy:
        code, output = run_suite(proxy.url, "test_scenario and (greenpin_lifecycle or greenvn)")
        state = httpx.get(base + "/_mock/state", params={"tenant_id": "demo"}).json()
    assert proxy.counts["lose"] == 2
    assert code == 3, output[-3000:]
    assert "contract: could not judge: 0 passed, 0 failed, 2 not judged" in output
    assert "the answer was lost" in output
    assert "and the server applied the request (" in output
    assert "the repeat was answered code 18" in output
    made = state["tenants"]["demo"]
    assert len(made) == 2, made  # a GreenPin and a GreenVN allocation, each made once
    # The GreenPin allocation, found, was deleted at the end; the GreenVN one has no id to
    # delete it by.
    assert sorted(allocation["state"] for allocation in made) == ["active", "vault"]


def test_a_lost_call_is_looked_up_by_its_numbers():
    # The same call twice: its first answer lost after the server placed it (found among the
    # calls: not placed again), then its first request reset before the server saw it (not
    # found: sent again).
    guard = Guard(budget=100)
    adapter = PatientAdapter(Patience(), lookup=Reconciler(Contract(), "exoct-", AUTH, guard))
    session = patient_session(adapter, on_response=guard.note)
    call = example("click_to_call.request.json") | {"from": {"contact_uri": "9812300001"}}
    path = "/v3/accounts/demo/calls"
    with broken_server(unchanged) as base:
        with (WeatherProxy(base, Weather(lose_first_answer_to=(CALL,))) as losing,
              pytest.raises(ServerUnavailable, match="and the server applied the request")):
            session.post(losing.url + path, json=call, auth=AUTH)
        with WeatherProxy(base, Weather(reset_first_to=(CALL,))) as resetting:
            placed = session.post(resetting.url + path, json=call, auth=AUTH)
        listed = session.get(base + "/v1/Accounts/demo/Calls", auth=AUTH).json()["Calls"]
    assert losing.counts["lose"] == resetting.counts["reset"] == 1
    assert placed.status_code == 200, placed.text
    assert len(listed) == 2, listed  # the first call, found, and the second, placed once
    assert guard.calls == {c["Sid"] for c in listed}


def test_a_server_that_stays_unavailable_is_not_judged(tmp_path):
    # Creates are answered 503 without end; the rest of the API works.
    weather = Weather(unavailable=1.0, retry_after=0, affects=f"^{GREENPIN}")
    report = tmp_path / "report.xml"
    with broken_server(unchanged) as base, WeatherProxy(base, weather) as proxy:
        result = subprocess.run(
            [sys.executable, "-m", "mock_server", "check", "--base-url", proxy.url,
             "--request-retries", "2", "--junitxml", str(report),
             "-k", "test_scenario and (greenpin_lifecycle or greenvn)"],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
        )
    output = result.stdout
    assert result.returncode == 3, output[-3000:]
    assert proxy.counts["unavailable"] == 3  # the first attempt and two retries
    assert "UNAVAILABLE  test_scenario[greenpin_lifecycle]  POST" in output
    assert "answered 503 after 3 attempt(s)" in output
    assert "PASS  test_scenario[greenvn]" in output
    assert "contract: could not judge: 1 passed, 0 failed, 1 not judged" in output
    xml = report.read_text()
    assert 'failures="0"' in xml
    assert '<property name="contract_outcome" value="server unavailable"' in xml
