"""The contract suite fails on servers that break the contract, each in its own way.

Each broken server is the mock with one defect spliced into its HTTP traffic; the suite runs
against it over HTTP as it would against staging, and must fail, in the tests that should notice.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from contract_tests.ci.weather_proxy import Weather, WeatherProxy
from mock_server.app import create_app
from mock_server.testing import free_port

from .helpers import in_thread

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
Rewrite = Callable[[dict[str, Any], int, Any], tuple[int, Any]]


class Defect:
    """ASGI middleware that rewrites JSON answers with `rewrite(scope, status, body)`."""

    def __init__(self, app: Any, rewrite: Rewrite) -> None:
        self.app = app
        self.rewrite = rewrite

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_mock/"):
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            raw = b"".join(chunks)
            try:
                status, body = self.rewrite(scope, start["status"], json.loads(raw))
                raw = json.dumps(body).encode()
            except ValueError:
                status = start["status"]
            replaced = {b"content-length"}
            content_type = getattr(self.rewrite, "content_type", None)
            if content_type:
                replaced.add(b"content-type")
            headers = [(k, v) for k, v in start["headers"] if k.lower() not in replaced]
            headers.append((b"content-length", str(len(raw)).encode()))
            if content_type:
                headers.append((b"content-type", content_type.encode()))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": raw})

        await self.app(scope, receive, capture)


def _data(body: Any) -> dict[str, Any] | None:
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        return body["data"]
    return None


def drops_deallocation_time(scope: dict[str, Any], status: int, body: Any) -> tuple[int, Any]:
    data = _data(body)
    if data is not None:
        data.pop("deallocation_time", None)
    return status, body


def forgets_deletions(scope: dict[str, Any], status: int, body: Any) -> tuple[int, Any]:
    """Deleting twice succeeds, and deleted allocations look active."""
    if isinstance(body, dict) and body.get("code") == 22:
        return 200, {"success": True, "status": 200, "code": None, "message": None,
                     "data": None}
    data = _data(body)
    if data is not None and data.get("state") == "vault":
        data["state"] = "active"
    return status, body


def wrong_status_for_no_free_pin(scope: dict[str, Any], status: int, body: Any) -> tuple[int, Any]:
    if status == 452:
        body["status"] = 409
        return 409, body
    return status, body


def mixes_up_allocations(scope: dict[str, Any], status: int, body: Any) -> tuple[int, Any]:
    data = _data(body)
    if scope["method"] == "GET" and data is not None and "greenpin_id" in data:
        data["greenpin_id"] = "0b6f3c1e-7d2a-4c55-9e41-2f7a8d9c6b10"
        data["transaction_id"] = "someone-else"
    return status, body


def crashes_on_search(scope: dict[str, Any], status: int, body: Any) -> tuple[int, Any]:
    if scope["method"] == "GET" and scope["path"].endswith("/greenpin"):
        return 500, {"detail": "Internal Server Error"}
    return status, body


def accepts_bad_requests(scope: dict[str, Any], status: int, body: Any) -> tuple[int, Any]:
    """Answers 200 where the documents demand a refusal for bad parameters."""
    envelope = body[0] if isinstance(body, list) and body else body
    if isinstance(envelope, dict) and envelope.get("code") in (3, 5):
        return 200, {"success": True, "status": 200, "code": None, "message": None, "data": None}
    return status, body


def wrong_code_for_conflicts(scope: dict[str, Any], status: int, body: Any) -> tuple[int, Any]:
    """Code 19 where the documents say 18 (the same HTTP status)."""
    for envelope in body if isinstance(body, list) else [body]:
        if isinstance(envelope, dict) and envelope.get("code") == 18:
            envelope["code"] = 19
    return status, body


def wrong_type_of_usage(scope: dict[str, Any], status: int, body: Any) -> tuple[int, Any]:
    data = _data(body)
    if data is not None and "usage" in data:
        data["usage"] = 2 if data["usage"] == "twoway" else 1
    return status, body


def plain_text_answers(scope: dict[str, Any], status: int, body: Any) -> tuple[int, Any]:
    return status, body


plain_text_answers.content_type = "text/plain"  # type: ignore[attr-defined]


def accepts_invalid_numbers(scope: dict[str, Any], status: int, body: Any) -> tuple[int, Any]:
    if isinstance(body, dict) and body.get("code") == 16:
        return 200, {"success": True, "status": 200, "code": None, "message": None,
                     "data": None}
    return status, body


def forgets_after_create(scope: dict[str, Any], status: int, body: Any) -> tuple[int, Any]:
    """Every allocation is unknown when read back."""
    if scope["method"] == "GET" and _data(body) is not None and "/greenpin/" in scope["path"]:
        return 404, {"success": False, "status": 404, "code": 1,
                     "message": "Could not find the given GreenPin", "data": None}
    return status, body


def reuses_active_pins(scope: dict[str, Any], status: int, body: Any) -> tuple[int, Any]:
    """Allocates when no PIN is free, by handing out one that is still active."""
    if status == 452:
        return 200, {"success": True, "status": 200, "code": None, "message": None, "data": {
            "transaction_id": "reused", "greenpin_id": "0b6f3c1e-7d2a-4c55-9e41-2f7a8d9c6b10",
            "a": {"vns": ["+916292134471"], "numbers": ["+919876500001"], "pin": "1"},
            "b": {"vns": ["+916292134471"], "numbers": []},
            "usage": "twoway", "state": "active", "deallocation_time": "2026-12-01 00:00:00"}}
    return status, body


def callbacks_miss_a_field(app: Any) -> None:
    """Sends the deallocation callback without its required `state`."""
    dispatcher = app.state.dispatcher
    prepare = dispatcher.prepare

    def broken_prepare(tenant_id: str, event: str, payload: dict[str, Any], *args: Any,
                       **kwargs: Any) -> Any:
        dispatcher.check = lambda event, payload: None
        payload = {k: v for k, v in payload.items() if k != "state"}
        return prepare(tenant_id, event, payload, *args, **kwargs)

    dispatcher.prepare = broken_prepare


def unchanged(scope: dict[str, Any], status: int, body: Any) -> tuple[int, Any]:
    return status, body


@contextmanager
def broken_server(
    rewrite: Rewrite,
    prepare: Callable[[Any], None] | None = None,
    wrap: Callable[[Any], Any] | None = None,
) -> Iterator[str]:
    port = free_port()
    app = create_app(seed=3)
    if prepare is not None:
        prepare(app)
    served: Any = Defect(app, rewrite)
    if wrap is not None:
        served = wrap(served)
    with in_thread(uvicorn.Config(served, host="127.0.0.1", port=port,
                                  log_level="error", lifespan="on")) as base_url:
        yield base_url


# Modules of the suite that schemathesis does not generate: collecting the generated tests costs
# about 3 s, even when `-k` then leaves them out.
HAND_WRITTEN = ("test_scenarios.py", "test_callbacks.py")


def run_suite(base_url: str, selection: str, *extra: str) -> tuple[int, str]:
    """The contract suite against `base_url`, the tests `-k selection` picks: its exit code
    and output."""
    generated = "operation_conforms" in selection or "stateful" in selection
    paths = ([str(ROOT / "contract_tests")] if generated
             else [str(ROOT / "contract_tests" / name) for name in HAND_WRITTEN])
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *paths, "--base-url", base_url,
         "--examples", "8", "-p", "no:cacheprovider", "-q", "-rf", "-rs", "--no-header",
         # One process, as `exomock check` runs it: workers would clean up each other's work.
         "-n", "0",
         "-k", selection, *extra],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    return result.returncode, result.stdout + result.stderr


# Each broken server is judged through a proxy that brings one kind of staging weather, reduced
# to keep the run short (the full sizes are in benchmarks/weather.py): the defect is still caught.
# The long runs of generated tests go through the throttling, which costs them least. Each run
# selects the tests that catch its defect (the whole suite against the mock itself is judged by
# `test_the_suite_passes_on_the_mock_itself` and benchmarks/weather.py).
WEATHER = {
    "throttled": Weather(throttle_every=5, retry_after=0),
    "blips": Weather(reset=0.05, unavailable=0.05, retry_after=0, seed=7),
    "slow": Weather(latency=0.01),
}

CASES = [
    (drops_deallocation_time, "greenpin_lifecycle or (operation_conforms and POST and greenpin)",
     ["greenpin_lifecycle", "POST /v1/tenants/{tenant_id}/greenpin"], "throttled"),
    (forgets_deletions, "scenario", ["greenpin_lifecycle", "greenvn"], "blips"),
    (wrong_status_for_no_free_pin, "scenario", ["pin_exhaustion", "greenpin_errors"], "slow"),
    (mixes_up_allocations, "scenario", ["greenpin_lifecycle", "scheduled_deallocation"],
     "blips"),
    (crashes_on_search, "operation_conforms and GET and greenpin",
     ["GET /v1/tenants/{tenant_id}/greenpin"], "throttled"),
    (accepts_bad_requests, "greenpin_errors or (operation_conforms and POST and greenpin)",
     ["greenpin_errors", "POST /v1/tenants/{tenant_id}/greenpin"], "throttled"),
    (wrong_code_for_conflicts, "scenario", ["greenpin_errors", "greenvn"], "slow"),
    (wrong_type_of_usage, "greenpin_lifecycle or (operation_conforms and POST and greenpin)",
     ["greenpin_lifecycle", "POST /v1/tenants/{tenant_id}/greenpin"], "throttled"),
    (plain_text_answers, "operation_conforms and greenpin and not bulk",
     ["POST /v1/tenants/{tenant_id}/greenpin", "GET /v1/tenants/{tenant_id}/greenpin"],
     "throttled"),
    (accepts_invalid_numbers, "scenario", ["greenpin_errors"], "blips"),
    (forgets_after_create, "scenario", ["greenpin_lifecycle", "scheduled_deallocation"], "slow"),
    (reuses_active_pins, "scenario", ["pin_exhaustion", "greenpin_errors"], "blips"),
]


@pytest.mark.parametrize(("defect", "selection", "caught_by", "weather"), CASES,
                         ids=[f"{case[0].__name__}-{case[3]}" for case in CASES])
def test_the_suite_fails_on_a_broken_server(defect, selection, caught_by, weather):
    with broken_server(defect) as base_url, WeatherProxy(base_url, WEATHER[weather]) as proxy:
        code, output = run_suite(proxy.url, selection)
    assert code == 1, output[-3000:]
    # Failure headers name the scenario or the operation (schemathesis reports per operation).
    failed = [line for line in output.splitlines() if line.startswith(("FAILED", "____"))]
    for name in caught_by:
        assert any(name in line for line in failed), (name, failed, output[-3000:])
    # The closing summary names each failure with a request to reproduce it.
    summary = output.split("contract summary", 1)[1]
    assert "FAIL  " in summary
    assert "curl -X" in summary
    weather_seen = {"throttled": ["throttle"], "blips": ["reset", "unavailable"],
                    "slow": ["requests"]}[weather]
    assert all(proxy.counts[kind] for kind in weather_seen), proxy.counts


def test_the_suite_fails_when_callbacks_break_their_schema():
    with broken_server(unchanged, prepare=callbacks_miss_a_field) as base_url:
        code, output = run_suite(base_url, "test_callbacks")
    assert code == 1, output[-3000:]
    assert "FAIL  test_deletion_sends_a_valid_deallocation_callback" in output
    assert "'state' is a required property" in output


def test_exomock_check_exits_non_zero_on_a_broken_server(tmp_path):
    with broken_server(forgets_deletions) as base_url:
        result = subprocess.run(
            [sys.executable, "-m", "mock_server", "check", "--base-url", base_url,
             "--junitxml", str(tmp_path / "report.xml"), "-k", "test_scenario"],
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )
    assert result.returncode == 1, result.stdout[-2000:]
    assert "failures=\"" in (tmp_path / "report.xml").read_text()


def test_the_suite_passes_on_the_mock_itself():
    with broken_server(lambda scope, status, body: (status, body)) as base_url:
        code, output = run_suite(base_url, "scenario or (operation_conforms and tenants)")
    assert code == 0, output[-3000:]
