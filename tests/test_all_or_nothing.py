"""Every write path is all or nothing: the state file's commit is made to fail at each of its
statements in turn, and each time the answer is 500 with code 0 (a 207 whose one item is code 0,
for a bulk update) while memory, the callback log and the file, reopened, are as before."""

from __future__ import annotations

import copy
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from starlette.testclient import TestClient

from mock_server.app import create_app
from mock_server.clock import FrozenClock
from mock_server.settings import Settings
from mock_server.spec import Spec
from mock_server.store.state import State

from .helpers import DEMO, START

GP = "/v1/tenants/demo/greenpin"
GV = "/v1/tenants/demo/greenvn"
VN = "+916292134464"


class FailingConnection:
    """A SQLite connection whose `fail_at`-th statement, counted from `arm`, fails as a full
    disk would; every other statement runs."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self.fail_at: int | None = None
        self.count = 0
        self.failed = False

    def arm(self, step: int) -> None:
        self.fail_at, self.count, self.failed = step, 0, False

    def _statement(self) -> None:
        if self.fail_at is None:
            return
        self.count += 1
        if self.count == self.fail_at:
            self.fail_at, self.failed = None, True
            raise sqlite3.OperationalError("database or disk is full")

    def execute(self, *args: Any) -> Any:
        self._statement()
        return self._db.execute(*args)

    def executemany(self, *args: Any) -> Any:
        self._statement()
        return self._db.executemany(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


@dataclass
class Mock:
    """A mock on a state file, with a clock that moves only when told."""

    path: Path
    settings: Settings
    spec: Spec
    start: float = START
    # Started (dispatcher and ticker running): only where a request needs the dispatcher.
    lifespan: bool = False
    client: TestClient = field(init=False)
    db: FailingConnection = field(init=False)

    def __post_init__(self) -> None:
        self.open()

    def open(self) -> None:
        state = State.open(str(self.path))
        assert state.file is not None
        self.db = FailingConnection(state.file._db)
        state.file._db = self.db  # type: ignore[assignment]
        # No lifespan: no deliveries leave and no ticker runs, so that nothing moves by itself.
        app = create_app(self.settings, state=state, spec=self.spec,
                         clock=FrozenClock(self.start), tune_gc=False)
        self.client = TestClient(app, raise_server_exceptions=False)
        self.client.auth = DEMO
        if self.lifespan:
            self.client.__enter__()

    def close(self) -> None:
        if self.lifespan:
            self.client.__exit__(None, None, None)  # closes the state too
        else:
            self.client.app.state.backend.state.close()  # type: ignore[attr-defined]

    def restart(self) -> None:
        self.close()
        self.open()

    def time_passes(self, seconds: float) -> None:
        """Real time going by: the clock's start moves, not its offset."""
        self.start += seconds
        self.client.app.state.backend.clock._start = self.start  # type: ignore[attr-defined]

    def observe(self) -> dict[str, Any]:
        """Everything a user can see of the state."""
        c = self.client
        backend = c.app.state.backend  # type: ignore[attr-defined]
        return {
            "state": c.get("/_mock/state").json(),
            "callbacks": c.get("/_mock/callbacks").json(),
            "calls": {t: [call.__dict__ for call in backend.state.calls.calls(t)]
                      for t in self.settings.tenants},
            "callback_urls": {t: dict(backend.callback_urls(t)) for t in self.settings.tenants},
            "connect_urls": dict(backend.state.runtime.connect_urls),
        }


def create(mock: Mock, ref: str = "t1", **extra: Any) -> dict[str, Any]:
    body = {"transaction_id": ref, "a": {"numbers": ["+919811111111"], "vns": [VN]},
            "b": {"numbers": ["+919822222222"]}, **extra}
    answer = mock.client.post(GP, json=body)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def place_call(mock: Mock) -> str:
    answer = mock.client.post("/v3/accounts/demo/calls", json={
        "from": {"contact_uri": "+919811112222"}, "to": {"contact_uri": "+919833334444"},
        "virtual_number": VN,
        "status_callback": [{"event": "answered", "url": "http://127.0.0.1:9/a"},
                            {"event": "terminal", "url": "http://127.0.0.1:9/t"}],
    })
    assert answer.status_code == 200, answer.text
    sid: str = answer.json()["response"]["call_details"]["sid"]
    return sid


Setup = Callable[[Mock], Any]
Request = Callable[[Mock, Any], Any]


def _greenvn(mock: Mock) -> str:
    answer = mock.client.post(GV, json={
        "connection_id": "c1", "aparty_numbers": ["+919855555555"],
        "bparty_numbers": ["+919866666666"], "usage": "twoway", "aparty_pins": [4321.0]})
    assert answer.status_code == 200, answer.text
    greenvn_id: str = answer.json()["data"]["greenvn_id"]
    return greenvn_id


def _delivery(mock: Mock) -> str:
    created = create(mock)
    mock.client.delete(f"{GP}/{created['greenpin_id']}")
    delivery_id: str = mock.client.get("/_mock/callbacks").json()["callbacks"][-1]["id"]
    return delivery_id


def _connect(mock: Mock, server: HTTPServer) -> None:
    server.expect_request("/connect").respond_with_json(
        {"destination": [{"contact_uri": "+919812340000"}, {"contact_uri": "+919812345678"}]})
    answer = mock.client.put(f"/_mock/tenants/demo/vns/{VN}/connect-url",
                             json={"url": server.url_for("/connect")})
    assert answer.status_code == 200


def _answered_call(mock: Mock) -> str:
    """A call whose parties talk: what the clock made due is kept before the request (as the
    background tick would have kept it), so that only the hang-up is the request's."""
    sid = place_call(mock)
    mock.time_passes(7)
    assert mock.client.get(f"/v3/accounts/demo/calls/{sid}").status_code == 200
    return sid


def _passing(seconds: float, then: Request) -> Request:
    def request(mock: Mock, prepared: Any) -> Any:
        mock.time_passes(seconds)
        return then(mock, prepared)
    return request


WRITE_PATHS: dict[str, tuple[Setup, Request]] = {
    "greenpin create": (lambda m: None, lambda m, _: m.client.post(GP, json={
        "transaction_id": "new", "a": {"numbers": ["+919811111111"], "vns": [VN]},
        "b": {"numbers": ["+919822222222"]}, "deallocation_policy": {"duration": "10m"}})),
    "greenpin update": (create, lambda m, a: m.client.put(f"{GP}/{a['greenpin_id']}", json={
        "a": {"numbers": ["+919833333333"], "pin_length": 6},
        "deallocation_policy": {"duration": "2d"}})),
    "greenpin bulk update": (create, lambda m, a: m.client.put(GP, json={"greenpins": [
        {"greenpin_id": a["greenpin_id"], "b": {"numbers": ["+919844444444"]}}]})),
    "greenpin delete": (create, lambda m, a: m.client.delete(f"{GP}/{a['greenpin_id']}")),
    "greenvn create": (lambda m: None, lambda m, _: m.client.post(GV, json={
        "connection_id": "c2", "aparty_numbers": ["+919877777777"],
        "bparty_numbers": ["+919888888888"], "usage": "oneway", "aparty_pins": ["55"]})),
    "greenvn delete": (_greenvn, lambda m, vn_id: m.client.delete(f"{GV}/{vn_id}")),
    "due deallocation, clock advanced": (
        lambda m: create(m, deallocation_policy={"duration": "10s"}),
        lambda m, _: m.client.post("/_mock/clock/advance", json={"seconds": 60})),
    "due deallocation, time passed": (
        lambda m: create(m, deallocation_policy={"duration": "10s"}),
        _passing(60, lambda m, a: m.client.get(f"{GP}/{a['greenpin_id']}"))),
    "incoming call, PIN joins": (create, lambda m, a: m.client.post("/_mock/calls/incoming", json={
        "vn": VN, "from": "+919899999999", "digits": a["a"]["pin"]})),
    "incoming call, registered caller": (create, lambda m, _: m.client.post(
        "/_mock/calls/incoming", json={"vn": VN, "from": "+919811111111"})),
    "click-to-call create": (lambda m: None, lambda m, _: m.client.post(
        "/v3/accounts/demo/calls", json={
            "from": {"contact_uri": "+919811112222"}, "to": {"contact_uri": "+919833334444"},
            "virtual_number": VN,
            "status_callback": [{"event": "terminal", "url": "http://127.0.0.1:9/t"}]})),
    "classic connect.json": (lambda m: None, lambda m, _: m.client.post(
        "/v1/Accounts/demo/Calls/connect.json",
        data={"From": "09811112222", "To": "09833334444", "CallerId": "06292134464"})),
    "call steps, time passed": (place_call, _passing(
        30, lambda m, sid: m.client.get(f"/v3/accounts/demo/calls/{sid}"))),
    "call hangup": (_answered_call, lambda m, sid: m.client.post(f"/_mock/calls/{sid}/hangup")),
    "reset one tenant": (create, lambda m, _: m.client.post(
        "/_mock/reset", json={"tenant_id": "demo"})),
    "reset everything": (create, lambda m, _: m.client.post("/_mock/reset")),
    "clock advance": (lambda m: None, lambda m, _: m.client.post(
        "/_mock/clock/advance", json={"seconds": 3600})),
    "callback URLs": (lambda m: None, lambda m, _: m.client.put(
        "/_mock/tenants/demo/callback-urls", json={"*": "http://127.0.0.1:9/all"})),
    "Connect URL": (lambda m: None, lambda m, _: m.client.put(
        f"/_mock/tenants/demo/vns/{VN}/connect-url", json={"url": "http://127.0.0.1:9/c"})),
    "redeliver": (_delivery, lambda m, delivery_id: m.client.post(
        f"/_mock/callbacks/{delivery_id}/redeliver", json={"url": "http://127.0.0.1:9/again"})),
}


def assert_refused_with_code_0(answer: Any, path: str) -> None:
    """500 in the path's envelope: ExoBridge and the control plane with code 0, the voice APIs
    (which have no ExoBridge codes) with their own 500."""
    body = answer.json()
    if path == "greenpin bulk update":
        assert answer.status_code == 207
        assert [item["code"] for item in body["response"]] == [0]
        return
    assert answer.status_code == 500, answer.text
    if isinstance(body, list):  # GreenVN answers its errors as a list of one
        body = body[0]
    if "RestException" in body:
        assert body["RestException"]["Status"] == 500
    elif "http_code" in body:
        assert body["http_code"] == 500
        assert body["response"]["status"] == "failure"
    else:
        assert body["code"] == 0, body
        assert body["success"] is False


@pytest.fixture
def mocks(tmp_path: Path, config: dict[str, Any], spec: Spec) -> Iterator[Callable[..., Mock]]:
    made: list[Mock] = []

    def make(lifespan: bool = False) -> Mock:
        mock = Mock(tmp_path / f"state{len(made)}.db", Settings.from_mapping(config), spec,
                    lifespan=lifespan)
        made.append(mock)
        return mock

    yield make
    for mock in made:
        mock.close()


def run_case(make: Callable[..., Mock], path: str, step: int,
             httpserver: HTTPServer) -> bool:
    """Fails the commit of `path` at `step`; whether a statement `step` was reached."""
    setup, request = WRITE_PATHS[path]
    connect = path == "incoming call, Connect applet"
    mock = make(lifespan=connect)
    if connect:
        _connect(mock, httpserver)
    prepared = setup(mock)
    before = mock.observe()
    mock.db.arm(step)
    answer = request(mock, prepared)
    if not mock.db.failed:
        assert answer.status_code < 300, (path, answer.text)
        return False
    assert_refused_with_code_0(answer, path)
    assert _comparable(mock.observe()) == _comparable(before), (path, step)
    mock.restart()
    assert _comparable(mock.observe()) == _comparable(before), (path, step, "after a restart")
    return True


def _comparable(observed: dict[str, Any]) -> dict[str, Any]:
    # The clock's epoch moves with real time passing in the test; its offset must not.
    observed = copy.deepcopy(observed)
    observed["state"]["clock"].pop("now")
    observed["state"]["clock"].pop("epoch_seconds")
    return observed


WRITE_PATHS["incoming call, Connect applet"] = (
    lambda m: None,
    lambda m, _: m.client.post("/_mock/calls/incoming", json={"vn": VN, "from": "+919891111111"}),
)


def test_every_write_path_keeps_nothing_when_its_commit_fails(mocks, httpserver, capsys):
    cases = 0
    steps: dict[str, int] = {}
    for path in WRITE_PATHS:
        step = 1
        while run_case(mocks, path, step, httpserver):
            step += 1
        steps[path] = step - 1
        cases += step - 1
    assert all(count >= 3 for count in steps.values()), steps  # BEGIN, a write, COMMIT at least
    with capsys.disabled():
        print(f"\nall or nothing: {cases} (path, step) cases over {len(steps)} write paths: "
              + ", ".join(f"{p} {n}" for p, n in steps.items()))
