"""Helpers the project's tests share: request bodies, the control plane's answer check, a mock
served as its own process, waiting for a condition. Fixtures are in `conftest.py`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import jsonschema
import uvicorn
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.testclient import TestClient

from contract_tests.contract import FIXTURES_DIR
from mock_server.testing import free_port

DEMO = ("demo_key", "demo_token")
OTHER = ("other_key", "other_token")
# 2026-01-01 00:00:00 UTC
START = 1767225600.0

GP = "/v1/tenants/demo/greenpin"
GVN = "/v1/tenants/demo/greenvn"
EXAMPLES = FIXTURES_DIR / "examples"
CONTROL_URI = "urn:exomock:control"


def allocation(transaction_id: str = "order-1", **overrides: Any) -> dict[str, Any]:
    """A GreenPin create body for the `demo` tenant."""
    body: dict[str, Any] = {
        "transaction_id": transaction_id,
        "a": {"numbers": ["9876500001"], "vns": ["6292134464"]},
        "b": {"numbers": ["9876500002"]},
    }
    body.update(overrides)
    return body


def greenvn(connection_id: str = "conn-1", **overrides: Any) -> dict[str, Any]:
    """A GreenVN create body."""
    body: dict[str, Any] = {
        "connection_id": connection_id,
        "aparty_numbers": ["9876500011"],
        "bparty_numbers": ["9876500012"],
        "usage": "twoway",
    }
    body.update(overrides)
    return body


def create(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    """Creates a GreenPin allocation that must succeed; its `data`."""
    response = client.post(GP, json=body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def example(name: str) -> Any:
    """A documented example from `fixtures/examples/`."""
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def wait_until(predicate: Any, timeout: float = 5.0) -> Any:
    """The first true value of `predicate()`, polled until `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def check_control_answer(
    control_spec: dict[str, Any], method: str, path: str, response: Any
) -> None:
    """The answer is one `openapi/mock-control.yaml` documents for its status."""
    operation = control_spec["paths"][path][method.lower()]
    documented = operation["responses"][str(response.status_code)]
    if "$ref" in documented:
        documented = control_spec["components"]["responses"][documented["$ref"].rsplit("/", 1)[1]]
    schema = documented["content"]["application/json"]["schema"]
    registry = Registry().with_resource(
        CONTROL_URI, Resource(contents=control_spec, specification=DRAFT202012)
    )
    schema = yaml.safe_load(yaml.safe_dump(schema).replace("'#/", f"'{CONTROL_URI}#/"))
    jsonschema.Draft202012Validator(schema, registry=registry).validate(response.json())


class Served:
    """`python -m mock_server serve` in its own process on a free port (see the `served`
    fixture)."""

    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mock_server", "serve", "--port", str(self.port), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"exomock exited: {self.process.stderr.read()}")
            try:
                httpx.get(self.base + "/_mock/clock", timeout=0.5)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError("exomock did not start")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=10)
        self.process.stdout.close()
        self.process.stderr.close()


@contextmanager
def in_thread(config: uvicorn.Config) -> Iterator[str]:
    """An app served by uvicorn in a thread of this process, as `config` says (host, port,
    options); its base URL. Stopped on leaving."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "the server did not start"
        assert time.monotonic() < deadline, "the server did not start in time"
        time.sleep(0.01)
    try:
        yield f"http://{config.host}:{config.port}"
    finally:
        server.should_exit = True
        thread.join(10)
