"""pytest fixtures for people who test against the mock or consume its callbacks.

Registered through the `pytest11` entry point, so installing the project is enough:

- `exobridge_mock`: a mock on a free port, shared by the session and reset before each test;
- `callback_sink`: an HTTP receiver (pytest-httpserver) that records and schema-checks callbacks;
- `fake_callback`: realistic fake payloads, `fake_callback("deallocation", seed=1)`.
- `handler_check`: checks your webhook handler as `exomock check-handler` does.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from .testing import MockServer

if TYPE_CHECKING:
    from pytest_httpserver import HTTPServer
    from werkzeug import Request as WerkzeugRequest
    from werkzeug import Response as WerkzeugResponse

    from .handler_check import Report


@pytest.fixture(scope="session")
def _exobridge_mock_session() -> Iterator[MockServer]:
    with MockServer() as mock:
        yield mock


@pytest.fixture
def exobridge_mock(_exobridge_mock_session: MockServer) -> MockServer:
    """A running mock on its embedded default configuration, reset before the test."""
    _exobridge_mock_session.reset()
    return _exobridge_mock_session


@dataclass
class ReceivedCallback:
    event: str | None
    payload: Any
    headers: dict[str, str]
    path: str
    received_at: float
    # Schema violations, empty when the payload is valid for its event.
    errors: list[str] = field(default_factory=list)


class CallbackSink:
    """Records what is POSTed to it and checks it against `openapi/callbacks/<event>`."""

    def __init__(self, server: HTTPServer) -> None:
        from .spec import Spec

        self.server = server
        self.received: list[ReceivedCallback] = []
        self._statuses: list[int] = []
        self._lock = threading.Condition()
        self._schemas = Spec().callback_schemas
        server.expect_request(re.compile(".*")).respond_with_handler(self._handle)

    @property
    def url(self) -> str:
        return str(self.server.url_for("/callbacks"))

    def url_for(self, event: str) -> str:
        return str(self.server.url_for(f"/callbacks/{event}"))

    def answer_next(self, *statuses: int) -> None:
        """The statuses to answer the next requests with (200 once they are used up)."""
        with self._lock:
            self._statuses.extend(statuses)

    def _handle(self, request: WerkzeugRequest) -> WerkzeugResponse:
        from werkzeug import Response

        try:
            payload: Any = json.loads(request.get_data())
        except ValueError:
            payload = request.get_data(as_text=True)
        if request.method == "GET":
            payload = dict(request.args)
        event = request.headers.get("x-exomock-event") or self._event_from_path(request.path)
        callback = ReceivedCallback(
            event=event,
            payload=payload,
            headers=dict(request.headers),
            path=request.path,
            received_at=time.time(),
            errors=self._violations(event, payload),
        )
        with self._lock:
            self.received.append(callback)
            status = self._statuses.pop(0) if self._statuses else 200
            self._lock.notify_all()
        return Response("{}", status=status, content_type="application/json")

    def _event_from_path(self, path: str) -> str | None:
        last = path.rstrip("/").rsplit("/", 1)[-1]
        return last if last in self._schemas else None

    def _violations(self, event: str | None, payload: Any) -> list[str]:
        import jsonschema

        if event is None:
            return ["the event is unknown: no x-exomock-event header and no event in the path"]
        validator = jsonschema.Draft202012Validator(self._schemas[event])
        return [
            f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(payload)
        ]

    def events(self, event: str | None = None) -> list[ReceivedCallback]:
        with self._lock:
            return [c for c in self.received if event is None or c.event == event]

    def wait_for(
        self, event: str, timeout: float = 5.0, where: Callable[[Any], bool] | None = None
    ) -> ReceivedCallback:
        """The first received callback of `event` (matching `where`); fails after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for callback in self.received:
                    if callback.event == event and (where is None or where(callback.payload)):
                        return callback
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [c.event for c in self.received]
                    raise AssertionError(f"no {event} callback within {timeout} s (got {seen})")
                self._lock.wait(remaining)


@pytest.fixture
def callback_sink(httpserver: HTTPServer) -> CallbackSink:
    """A receiver for callbacks; `url_for(event)` is where to send them."""
    return CallbackSink(httpserver)


class FakeCallback:
    """Makes fake callback payloads (see `mock_server.fakes`).

    `fake_callback("call_completed", seed=1, on_call_duration=0)` overrides top-level fields by
    name; nested ones take `__` for the dots (`call_details__status="busy"`), or an `overrides`
    mapping of dotted paths. `from`, a Python keyword, goes through `**{"from": ...}`.
    """

    def __init__(self) -> None:
        from .fakes import EVENTS

        self.events: tuple[str, ...] = EVENTS

    def __call__(
        self,
        event: str,
        seed: int | None = None,
        overrides: dict[str, Any] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        from .fakes import fake

        changes = {**(overrides or {}), **{k.replace("__", "."): v for k, v in fields.items()}}
        return fake(event, seed=seed, overrides=changes or None)

    def many(
        self, event: str, count: int, seed: int | None = None, **fields: Any
    ) -> list[dict[str, Any]]:
        from .fakes import fake_many

        changes = {k.replace("__", "."): v for k, v in fields.items()}
        return fake_many(event, count, seed=seed, overrides=changes or None)

    def sequence(
        self, *, seed: int | None = None, answered: bool = True, verified: bool = True
    ) -> list[tuple[str, dict[str, Any]]]:
        """The callbacks of one call on a GreenPin allocation, in order, sharing their ids."""
        from .fakes import call_sequence

        return call_sequence(seed=seed, answered=answered, verified=verified)


@pytest.fixture
def fake_callback() -> FakeCallback:
    """A factory of realistic, schema-valid callback payloads: `fake_callback(event, seed=...)`."""
    return FakeCallback()


@pytest.fixture
def handler_check() -> Callable[..., Report]:
    """`handler_check(url, secret=..., connect_url=..., events=[...])` runs every check of
    `exomock check-handler` against your handler and returns the report; `.assert_ok()` fails
    the test with the whole report when a check failed."""
    from .handler_check import check_handler

    return check_handler
