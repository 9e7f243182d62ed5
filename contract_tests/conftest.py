"""Options and fixtures of the contract suite: which server, whose credentials, how far to go.

Every option has an environment variable, so that a CI pipeline sets secrets once:

    pytest contract_tests --base-url https://staging.example --tenant T --api-key K --api-token S

With no base URL, the mock is started on a free port and the suite runs against it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from . import outcomes
from .contract import Contract
from .reconcile import Reconciler
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
from .transport import (
    SESSION_TRANSPORT,
    Patience,
    PatientAdapter,
    ServerUnavailable,
    patient_session,
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
        "--control-url",
        "EXOBRIDGE_CONTROL_URL",
        "the mock's own URL for its control plane (/_mock/), when --base-url is a proxy before it",
    )
    add(
        "--step-log",
        "EXOBRIDGE_STEP_LOG",
        "append each scenario request (method, path, breaks_spec) to this file, as JSON lines",
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
    # Defaults for a shared staging: a slow answer is waited for, throttling is waited out, and a
    # server that stays away ends the run as "could not judge" within minutes, not hours.
    # Not `--timeout`: pytest-timeout's option, which bounds a whole test.
    add("--request-timeout", "EXOBRIDGE_REQUEST_TIMEOUT",
        "seconds one attempt may take to connect, and to answer", default="30")
    add("--request-retries", "EXOBRIDGE_REQUEST_RETRIES",
        "attempts after the first for a request answered 429/503 or dropped", default="5")
    add("--max-wait", "EXOBRIDGE_MAX_WAIT",
        "seconds one request may wait in all between its attempts (Retry-After, backoff)",
        default="180")
    add("--wait-budget", "EXOBRIDGE_WAIT_BUDGET",
        "seconds the whole run may spend waiting for the server", default="1800")
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
    config.pluginmanager.register(outcomes, "exobridge-outcomes")


@pytest.fixture(scope="session")
def contract() -> Contract:
    return Contract()


@pytest.fixture(scope="session")
def patience(pytestconfig: pytest.Config) -> Patience:
    option = pytestconfig.getoption
    try:
        return Patience(timeout=float(option("--request-timeout")),
                        retries=int(option("--request-retries")),
                        max_wait=float(option("--max-wait")),
                        wait_budget=float(option("--wait-budget")))
    except ValueError as exc:
        names = "--request-timeout, --request-retries, --max-wait, --wait-budget"
        raise pytest.UsageError(f"{names}: {exc}") from None


@pytest.fixture(scope="session")
def transport(patience: Patience, guard: Guard, id_prefix: str, contract: Contract,
              pytestconfig: pytest.Config) -> PatientAdapter:
    """The one transport every request of the run goes through."""
    auth = (pytestconfig.getoption("--api-key"), pytestconfig.getoption("--api-token"))
    return PatientAdapter(patience, lookup=Reconciler(contract, id_prefix, auth, guard))


@pytest.fixture(scope="session")
def plain_session(transport: PatientAdapter, guard: Guard) -> Iterator[requests.Session]:
    """Requests that are not the contract's (preflight, control plane, cleanup): no budget."""
    session = patient_session(transport, on_response=guard.note)
    yield session
    session.close()


@pytest.fixture(scope="session")
def session(transport: PatientAdapter, guard: Guard, target: Target,
            plain_session: requests.Session) -> Iterator[requests.Session]:
    """The tests' requests: each spends the budget, and what each create makes is deleted at
    the end of the run, even after failures."""
    made = patient_session(transport, on_response=guard.note, before_request=guard.spend)
    SESSION_TRANSPORT.session = made
    yield made
    SESSION_TRANSPORT.session = None
    made.close()
    cleanup(plain_session, guard, target.auth)


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config, plain_session: requests.Session) -> Iterator[Target]:
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
        preflight(plain_session, base_url, tenant, auth)
        control_url = (option("--control-url") or base_url).rstrip("/")
        has_control_plane = probe_control_plane(plain_session, control_url, headers)
    except (ControlTokenNeeded, TargetUnusable, ServerUnavailable) as exc:
        if process is not None:
            process.terminate()
        if isinstance(exc, ServerUnavailable):
            pytest.exit(f"{base_url}: {exc.msg}", returncode=outcomes.NOT_JUDGED)
        pytest.exit(str(exc), returncode=pytest.ExitCode.USAGE_ERROR)
    found = Target(
        base_url=base_url.rstrip("/"),
        tenant_id=tenant,
        auth=auth,
        account_sid=option("--account-sid") or tenant,
        has_control_plane=has_control_plane,
        process=process,
        control_headers=headers,
        control_base_url=control_url,
    )
    if found.has_control_plane and process is not None:
        plain_session.post(found.control_url("/_mock/reset"), json={}, headers=headers)
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
    """The tests' client for the target: relative paths, the tenant's credentials, the budget
    (a spent budget skips the test), and the control plane through the same transport."""

    def __init__(self, target: Target, session: requests.Session,
                 plain_session: requests.Session) -> None:
        self.target = target
        self.session = session
        self.plain_session = plain_session

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("auth", self.target.auth)
        try:
            return self.session.request(method, self.target.url(path), **kwargs)
        except BudgetExhausted as exc:
            pytest.skip(str(exc))

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def control(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A call to the mock's control plane (its token when given; no budget)."""
        return self.plain_session.request(method, self.target.control_url(path),
                                          headers=self.target.control_headers, **kwargs)


@pytest.fixture(scope="session")
def api(target: Target, session: requests.Session, plain_session: requests.Session) -> Api:
    return Api(target, session, plain_session)


def cleanup(session: requests.Session, guard: Guard, auth: tuple[str, str]) -> None:
    """Deletes what the run created (deleting again what is already deleted is harmless)."""
    with guard.lock:
        created = dict(guard.created)
        guard.created.clear()
    for allocation_id, collection in created.items():
        try:
            session.delete(f"{collection}/{allocation_id}", auth=auth)
        except (requests.RequestException, ServerUnavailable):
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


__all__ = ["Api", "BudgetExhausted"]
