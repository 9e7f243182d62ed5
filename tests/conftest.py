"""Fixtures of the project's own tests: an in-process mock per test, on a known configuration."""

from __future__ import annotations

import copy
import os
import signal
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

from contract_tests.contract import OPENAPI_DIR, Contract
from mock_server.app import create_app
from mock_server.clock import FrozenClock
from mock_server.settings import DEFAULT_CONFIG_PATH, Settings
from mock_server.spec import Spec
from mock_server.store.shared import RedisState

from .helpers import DEMO, OTHER, START, Served


@pytest.fixture(scope="session")
def spec() -> Spec:
    return Spec()


@pytest.fixture(scope="session")
def contract() -> Contract:
    return Contract()


@pytest.fixture(scope="session")
def default_config() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))


@pytest.fixture
def config(default_config: dict[str, Any]) -> dict[str, Any]:
    """The embedded default plus a second tenant, `other`, with two VNs of its own."""
    raw = copy.deepcopy(default_config)
    raw["callbacks"]["retry_delays_seconds"] = [0.05, 0.05]
    raw["callbacks"]["timeout_seconds"] = 2
    raw["tenants"]["other"] = {
        "credentials": [{"api_key": OTHER[0], "api_token": OTHER[1]}],
        "flows": ["1", "2"],
        "bulk_limit": 2,
        "numbers": [
            {"number": "+918045671234", "region": "KA", "type": "landline"},
            {"number": "+918045671235", "region": "KA", "type": "landline"},
        ],
    }
    return raw


@pytest.fixture
def make_client(config: dict[str, Any], spec: Spec) -> Iterator[Any]:
    clients: list[TestClient] = []

    def make(raw: dict[str, Any] | None = None, **kwargs: Any) -> TestClient:
        settings = Settings.from_mapping(raw or config)
        shared = os.environ.get("EXOMOCK_TEST_STORE")
        if shared and "state" not in kwargs and "store" not in kwargs:
            # The same tests on the shared store: each app a namespace of its own in Redis.
            kwargs["state"] = RedisState(
                shared, retention=settings.callbacks.retention,
                prefix=f"exomock-test:{uuid.uuid4().hex}:",
            )
        app = create_app(
            settings, spec=spec, clock=FrozenClock(START), seed=7, tune_gc=False, **kwargs
        )
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Any) -> TestClient:
    """The mock in process, with a frozen clock and seeded ids."""
    client: TestClient = make_client()
    client.auth = DEMO
    return client


@pytest.fixture(scope="session")
def control_spec() -> dict[str, Any]:
    """`openapi/mock-control.yaml`, the control plane's spec."""
    document: dict[str, Any] = yaml.safe_load((OPENAPI_DIR / "mock-control.yaml").read_text())
    return document


@pytest.fixture
def served() -> Iterator[Callable[..., Served]]:
    """Starts `exomock serve ARGS...` in its own process; every one is killed after the test."""
    started: list[Served] = []

    def start(*args: str) -> Served:
        server = Served(*args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(signal.SIGKILL)
