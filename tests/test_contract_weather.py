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

from contract_tests.ci.weather_proxy import Weather, WeatherProxy

from .test_contract_catches_broken_servers import broken_server, run_suite, unchanged

GREENPIN = "POST /v1/tenants/demo/greenpin"


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
    weather = Weather(reset=0.05, unavailable=0.05, retry_after=0, seed=3)
    with broken_server(unchanged) as base, WeatherProxy(base, weather) as proxy:
        code, output = run_suite(
            proxy.url, "test_scenario and (greenpin_lifecycle or greenpin_errors or exhaustion)")
    assert code == 0, output[-3000:]
    assert proxy.counts["reset"] >= 2
    assert proxy.counts["unavailable"] >= 2


def test_a_slow_server_passes():
    with broken_server(unchanged) as base, WeatherProxy(base, Weather(latency=0.05)) as proxy:
        started = time.monotonic()
        code, output = run_suite(proxy.url, "test_scenario and greenpin_lifecycle")
        elapsed = time.monotonic() - started
    assert code == 0, output[-3000:]
    assert elapsed >= proxy.counts["requests"] * 0.05


def test_a_create_whose_answer_was_lost_is_looked_up_not_made_twice():
    weather = Weather(lose_first_answer_to=GREENPIN)
    with broken_server(unchanged) as base, WeatherProxy(base, weather) as proxy:
        code, output = run_suite(proxy.url, "test_scenario and greenpin_lifecycle")
        state = httpx.get(base + "/_mock/state", params={"tenant_id": "demo"}).json()
    assert proxy.counts["lose"] == 1
    assert code == 3, output[-3000:]
    assert "the answer was lost" in output
    assert "and the server applied the request" in output
    made = state["tenants"]["demo"]
    assert len(made) == 1, made  # the create was not sent a second time
    assert made[0]["state"] == "vault"  # and what it made was deleted at the end


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
