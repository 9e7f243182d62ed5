"""Options and fixtures of the contract suite: which server, whose credentials, how far to go.

Every option has an environment variable, so that a CI pipeline sets secrets once:

    pytest contract_tests --base-url https://staging.example --tenant T --api-key K --api-token S

With no base URL, the mock is started on a free port and the suite runs against it.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .contract import Contract
from .target import (
    BudgetExhausted,
    ControlTokenNeeded,
    Guard,
    Target,
    TargetUnusable,
    preflight,
    probe_control_plane,
    start_local_mock,
)

DEFAULT_PREFIX = "exoct-"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("exobridge", "ExoBridge contract suite")
    env = os.environ.get

    def add(name: str, variable: str | None, help_text: str, **kwargs: Any) -> None:
        default = env(variable) if variable else None
        if default is None:
            default = kwargs.pop("default", None)
        else:
            kwargs.pop("default", None)
        suffix = f" (env {variable})" if variable else ""
        group.addoption(name, default=default, help=help_text + suffix, **kwargs)

    add("--base-url", "EXOBRIDGE_BASE_URL", "server to test; the mock is started when absent")
    add("--tenant", "EXOBRIDGE_TENANT", "tenant id in the ExoBridge paths", default="demo")
    add("--api-key", "EXOBRIDGE_API_KEY", "Basic user name", default="demo_key")
    add("--api-token", "EXOBRIDGE_API_TOKEN", "Basic password", default="demo_token")
    add(
        "--account-sid", "EXOBRIDGE_ACCOUNT_SID", "account in the calls API paths (default: tenant)"
    )
    add("--examples", "EXOBRIDGE_EXAMPLES", "generated examples per operation", default="15")
    add(
        "--seed",
        "EXOBRIDGE_SEED",
        "seed for generated tests; fixed makes a run reproducible",
        default="20261123",
    )
    add(
        "--request-budget",
        "EXOBRIDGE_REQUEST_BUDGET",
        "most requests the run may make",
        default="20000",
    )
    add(
        "--id-prefix",
        "EXOBRIDGE_ID_PREFIX",
        "prefix of every transaction_id/connection_id the run creates",
        default=DEFAULT_PREFIX,
    )
    add(
        "--vns",
        "EXOBRIDGE_VNS",
        "comma-separated VNs of the tenant for the scenarios (default: the documents' three)",
    )
    add(
        "--callback-url",
        "EXOBRIDGE_CALLBACK_URL",
        "public URL at which the callback sink is reachable by a remote server",
    )
    add(
        "--control-token",
        "EXOBRIDGE_CONTROL_TOKEN",
        "the mock's control token (exomock serve --control-token), for /_mock/",
    )
    add(
        "--sink-port",
        "EXOBRIDGE_SINK_PORT",
        "port the callback sink listens on (with --callback-url forwarding to it)",
    )
    group.addoption(
        "--no-destructive",
        action="store_true",
        default=env("EXOBRIDGE_NO_DESTRUCTIVE") == "1",
        help="only reads and validation: nothing is created (env EXOBRIDGE_NO_DESTRUCTIVE=1)",
    )


# The run's configuration, for modules that build tests at import time (schemathesis).
CONFIG: dict[str, pytest.Config] = {}


def pytest_configure(config: pytest.Config) -> None:
    CONFIG["current"] = config
    config.addinivalue_line("markers", "mock_only: needs the mock's control plane (/_mock/)")
    config.addinivalue_line("markers", "destructive: creates or changes allocations")


@pytest.fixture(scope="session")
def contract() -> Contract:
    return Contract()


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> Iterator[Target]:
    option = pytestconfig.getoption
    tenant = option("--tenant")
    auth = (option("--api-key"), option("--api-token"))
    base_url = option("--base-url")
    process = None
    if not base_url:
        base_url, process = start_local_mock(int(option("--seed")))
    token = option("--control-token")
    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        preflight(base_url, tenant, auth)
        has_control_plane = probe_control_plane(base_url, headers)
    except (ControlTokenNeeded, TargetUnusable) as exc:
        if process is not None:
            process.terminate()
        pytest.exit(str(exc), returncode=pytest.ExitCode.USAGE_ERROR)
    found = Target(
        base_url=base_url.rstrip("/"),
        tenant_id=tenant,
        auth=auth,
        account_sid=option("--account-sid") or tenant,
        has_control_plane=has_control_plane,
        process=process,
        control_headers=headers,
    )
    if found.has_control_plane and process is not None:
        httpx.post(found.url("/_mock/reset"), json={}, headers=headers)
    yield found
    found.stop()


@pytest.fixture(scope="session")
def guard(pytestconfig: pytest.Config) -> Guard:
    return Guard(budget=int(pytestconfig.getoption("--request-budget")))


@pytest.fixture(scope="session")
def id_prefix(pytestconfig: pytest.Config) -> str:
    prefix: str = pytestconfig.getoption("--id-prefix")
    return prefix


@pytest.fixture(scope="session")
def destructive(pytestconfig: pytest.Config) -> bool:
    return not pytestconfig.getoption("--no-destructive")


class Api:
    """An HTTP client for the target that spends the budget, backs off on 429, and remembers
    what it created so that teardown can delete it."""

    def __init__(self, target: Target, guard: Guard) -> None:
        self.target = target
        self.guard = guard
        transport = httpx.HTTPTransport(retries=2)
        self.client = httpx.Client(
            base_url=target.base_url, auth=target.auth, timeout=30, transport=transport
        )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        delay = 0.5
        for _ in range(6):
            try:
                self.guard.spend()
            except BudgetExhausted as exc:
                pytest.skip(str(exc))
            response = self.client.request(method, path, **kwargs)
            if response.status_code != 429:
                break
            retry_after = response.headers.get("retry-after", "")
            wait = float(retry_after) if retry_after.isdigit() else delay
            time.sleep(min(wait, 30))
            delay *= 2
        try:
            body = response.json()
        except ValueError:
            body = None
        self.guard.note_response(method.upper(), httpx.URL(path).path, response.status_code, body)
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def control(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A call to the mock's control plane (its token when given; no budget)."""
        return httpx.request(method, self.target.url(path), timeout=30,
                             headers=self.target.control_headers, **kwargs)


@pytest.fixture(scope="session")
def api(target: Target, guard: Guard) -> Iterator[Api]:
    client = Api(target, guard)
    yield client
    cleanup(client)
    client.client.close()


def cleanup(api: Api) -> None:
    """Deletes what the run created and is still active, even after failures."""
    with api.guard.lock:
        created = dict(api.guard.created)
        api.guard.created.clear()
    for allocation_id, collection in created.items():
        try:
            api.client.delete(f"{collection}/{allocation_id}")
        except httpx.HTTPError:
            continue


@pytest.fixture(autouse=True)
def _budget_skips(request: pytest.FixtureRequest) -> None:
    guard: Guard | None = None
    if "guard" in request.fixturenames:
        guard = request.getfixturevalue("guard")
    if guard is not None and guard.used >= guard.budget:
        pytest.skip(f"the request budget of {guard.budget} is spent")


@pytest.fixture
def needs_control_plane(target: Target) -> None:
    if not target.has_control_plane:
        pytest.skip("needs the mock's control plane (/_mock/), which this server does not have")


@pytest.fixture
def needs_destructive(destructive: bool) -> None:
    if not destructive:
        pytest.skip("creates allocations; --no-destructive is set")


__all__ = ["Api", "BudgetExhausted"]


# -- the summary at the end of a run ------------------------------------------------------------

_CHECK = re.compile(r"^\s*\|?\s*- (ST\d+ [^\n]+)$", re.MULTILINE)
_CURL = re.compile(r"(curl -X [^\n]+)")
_OUTCOMES: dict[str, tuple[str, str]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "contract_tests" not in report.nodeid:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        text = report.longreprtext if report.failed or report.skipped else ""
        # schemathesis reports each operation as a sub-test of one item: its head line names it.
        name = report.head_line or report.nodeid.split("::", 1)[-1]
        _OUTCOMES[name] = (report.outcome, text)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Operation (or scenario) by check, with each failing request as a curl command."""
    if not _OUTCOMES:
        return
    write = terminalreporter.write_line
    terminalreporter.section("contract summary")
    for name, (outcome, text) in sorted(_OUTCOMES.items()):
        if outcome == "passed":
            write(f"PASS  {name}")
            continue
        if outcome == "skipped":
            reason = text.strip().splitlines()[-1] if text.strip() else ""
            write(f"SKIP  {name}  {reason[-120:]}")
            continue
        checks = sorted(set(_CHECK.findall(text))) or [text.strip().splitlines()[-1][:120]]
        write(f"FAIL  {name}")
        for check in checks:
            write(f"        {check.strip()}")
        for curl in list(dict.fromkeys(_CURL.findall(text)))[:3]:
            write(f"        {curl.strip()}")
