"""The contract suite is safe to point at a real account: it cleans up, it can stay read-only,
it keeps to a request budget, and it waits when throttled."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest

from .test_contract_catches_broken_servers import broken_server, run_suite

pytestmark = pytest.mark.slow


def allocations(base: str) -> list[dict[str, Any]]:
    state = httpx.get(base + "/_mock/state", params={"tenant_id": "demo"}).json()
    found: list[dict[str, Any]] = state["tenants"]["demo"]
    return found


def test_everything_created_is_deleted_even_when_tests_fail(served):
    server = served()
    # At the end of the run none of the allocations the scenarios made may be left active.
    code, output = run_suite(server.base, "test_scenario and (greenpin_bulk or lifecycle)")
    assert code == 0, output[-2000:]
    made = allocations(server.base)
    assert made, "the scenarios created nothing"
    assert all(a["state"] == "vault" for a in made), made
    assert all(a["ref"].startswith("exoct-") for a in made)


def test_cleanup_after_a_failing_test():
    with broken_server(lambda scope, status, body: (
        (404, {"success": False, "status": 404, "code": 1, "message": "x", "data": None})
        if scope["method"] == "PUT" else (status, body)
    )) as base:
        code, output = run_suite(base, "test_scenario and greenpin_lifecycle")
        assert code == 1, output[-2000:]
        state = httpx.get(base + "/_mock/state", params={"tenant_id": "demo"}).json()
    made = state["tenants"]["demo"]
    assert made
    assert all(a["state"] == "vault" for a in made), made


def test_no_destructive_creates_nothing(served):
    server = served()
    code, output = run_suite(server.base, "test_scenario or operation_conforms",
                             "--no-destructive")
    assert code == 0, output[-2000:]
    assert "--no-destructive is set" in output
    assert allocations(server.base) == []


def test_request_budget_is_kept(served):
    server = served()
    code, output = run_suite(server.base, "test_scenario", "--request-budget", "12")
    assert code == 0, output[-2000:]  # what the budget cuts short is skipped, not failed
    assert "request budget of 12 is spent" in output, output[-2000:]
    assert len(allocations(server.base)) <= 12


class Throttle:
    """ASGI middleware: every third API request is refused with 429 and `Retry-After: 0`,
    before the server sees it, as a provider's rate limiter would."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.counter = itertools.count()
        self.throttled = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        api = scope["type"] == "http" and not scope["path"].startswith("/_mock/")
        if api and next(self.counter) % 3 == 2:
            self.throttled += 1
            body = b'{"success":false,"status":429,"code":null,"data":null,"message":"Throttled"}'
            await send({"type": "http.response.start", "status": 429, "headers": [
                (b"content-type", b"application/json"), (b"retry-after", b"0"),
                (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def test_throttling_is_waited_out():
    throttles: list[Throttle] = []

    def wrap(app: Any) -> Throttle:
        throttles.append(Throttle(app))
        return throttles[-1]

    with broken_server(lambda scope, status, body: (status, body), wrap=wrap) as base:
        code, output = run_suite(base, "test_scenario and (greenpin_lifecycle or greenvn)")
    assert code == 0, output[-3000:]
    assert throttles[0].throttled > 5


def test_runs_with_one_seed_do_not_meet_each_others_allocations():
    """A second run against the same server with the same seed once found the first run's
    allocations in its search by transaction id: ids and numbers now take a token of the run."""
    from contract_tests.scenarios import run_variables

    vns = ["+916292134464"]
    first, second = (run_variables(7, "exoct-", "demo", vns) for _ in range(2))
    assert first["prefix"] != second["prefix"]
    assert first["n1"] != second["n1"]
    assert run_variables(7, "exoct-", "demo", vns, run="ab12cd") == \
        run_variables(7, "exoct-", "demo", vns, run="ab12cd")
