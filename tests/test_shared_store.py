"""Several processes on one Redis serve one mock (`exomock serve --store redis://...`).

Each test starts a real `redis-server` (Debian's package) on a free port in a temporary folder
and real `exomock serve` processes on it; nothing is skipped in CI."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from werkzeug import Request, Response

from mock_server.testing import free_port
from mock_server.testing import redis_server as start_redis

from .helpers import DEMO, Served, wait_until

pytestmark = pytest.mark.slow

VN = "6292134464"


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A redis-server of its own (`mock_server.testing.redis_server`); in CI one must exist."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing (.ci/run installs Debian's redis-server)")
        pytest.skip("redis-server is not installed")
    with start_redis(folder) as url:
        yield url


def _config(folder: Path, callback_url: str | None = None) -> str:
    urls = f"{{deallocation: {callback_url}}}" if callback_url else "{}"
    path = folder / "config.yaml"
    path.write_text(f"""\
callbacks:
  retry_delays_seconds: [0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]
tenants:
  demo:
    credentials: [{{api_key: demo_key, api_token: demo_token}}]
    callback_urls: {urls}
    numbers: [{{number: "+91{VN}", region: WB, type: mobile}}]
""")
    return str(path)


def _start(n: int, *args: str) -> list[Served]:
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: Served("--log-level", "warning", *args), range(n)))


def _pin_body(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "transaction_id": f"order-{i}",
        "a": {"numbers": [f"98{i:08d}"], "vns": [VN], "pin_length": 2},
        "b": {"numbers": [f"97{i:08d}"]},
        **extra,
    }


class Receiver:
    """Callbacks received, by allocation; answers 503 while `refusing`."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self.arrived: dict[str, float] = {}  # first arrival, time.monotonic()
        self.refusing = False
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        if self.refusing:
            return Response("not now", 503)
        body = request.get_json()
        key = body.get("greenpin_id") or body.get("id") or repr(body)
        with self._lock:
            self.received[key] += 1
            self.arrived.setdefault(key, time.monotonic())
        return Response("ok")


@pytest.fixture
def receiver(httpserver: Any) -> Receiver:
    receiver = Receiver()
    httpserver.expect_request("/deallocated").respond_with_handler(receiver)
    return receiver


def test_four_processes_serve_one_mock(tmp_path: Path, httpserver: Any, receiver: Receiver):
    """Four processes on one Redis (started once for two checks: they cost seconds each)."""
    with redis_server(tmp_path) as store:
        servers = _start(4, "--store", store, "--config", _config(tmp_path))
        try:
            _one_pin_space_for_32_clients(servers)
            assert httpx.post(servers[2].base + "/_mock/reset").status_code == 200
            _due_deallocations_sent_once(servers, httpserver.url_for("/deallocated"), receiver)
            _a_busy_user_has_one_call(servers)
        finally:
            for server in servers:
                server.stop()


def _one_pin_space_for_32_clients(servers: list[Served]) -> None:
    """pin_length 2 on one VN: exactly 100 distinct PINs handed out, every other create refused
    with code 4, whichever process each request reached."""

    def client_run(k: int) -> list[httpx.Response]:
        base = servers[k % 4].base
        with httpx.Client(base_url=base, auth=DEMO, timeout=30) as client:
            return [
                client.post("/v1/tenants/demo/greenpin", json=_pin_body(k * 100 + j))
                for j in range(5)
            ]

    with ThreadPoolExecutor(32) as pool:
        answers = [r for rs in pool.map(client_run, range(32)) for r in rs]
    made = [r.json()["data"] for r in answers if r.status_code == 200]
    refused = [r.json() for r in answers if r.status_code != 200]
    pins = [a["a"]["pin"] for a in made]
    assert len(pins) == 100
    assert len(set(pins)) == 100
    assert {(r["status"], r["code"]) for r in refused} == {(452, 4)}, refused[:3]
    assert len(refused) == 60
    # Every process sees the same 100 active allocations.
    for server in servers:
        state = httpx.get(server.base + "/_mock/state?tenant_id=demo").json()
        active = [a for a in state["tenants"]["demo"] if a["state"] == "active"]
        assert len(active) == 100


def _a_busy_user_has_one_call(servers: list[Served]) -> None:
    """Two state-managed calls of one user sent at the same instant to two processes: one is
    placed, the other is over at once, busy (the user's state is read under the lock)."""
    clients = [httpx.Client(base_url=server.base, auth=DEMO, timeout=30) for server in servers]
    for client in clients:
        client.get("/_mock/health")  # connections open before the race
    barrier = threading.Barrier(2)

    def place(user: int, side: int) -> str:
        body = {"from": {"contact_uri": f"98765{user + 10:05d}", "state_management": True},
                "to": {"contact_uri": "9123456780"}, "virtual_number": "+916292134464"}
        barrier.wait()
        answer = clients[side].post("/v3/accounts/demo/calls", json=body)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["response"]["call_details"]["status"])

    try:
        with ThreadPoolExecutor(2) as pool:
            for user in range(8):
                pair = sorted(pool.map(place, [user, user], [0, 1 + user % 3]))
                assert pair == ["None", "busy"], (user, pair)
    finally:
        for client in clients:
            client.close()


def _due_deallocations_sent_once(servers: list[Served], url: str, receiver: Receiver) -> None:
    """Allocations due at the same moment, four processes ticking: each deallocation is made,
    and its callback delivered, exactly once."""
    urls = {"deallocation": url}
    assert httpx.put(servers[3].base + "/_mock/tenants/demo/callback-urls",
                     json=urls).status_code == 200
    with httpx.Client(base_url=servers[0].base, auth=DEMO, timeout=30) as client:
        ids = [
            client.post("/v1/tenants/demo/greenpin", json=_pin_body(
                i, deallocation_policy={"duration": "2s"})).json()["data"]["greenpin_id"]
            for i in range(40)
        ]
    # The four tickers (and any request) race for them once they are due.
    wait_until(lambda: len(receiver.received) >= 40, timeout=20)
    time.sleep(0.5)  # time for a second delivery to show, were there one
    assert set(receiver.received) == set(ids)
    assert set(receiver.received.values()) == {1}
    summary = httpx.get(servers[3].base + "/_mock/callbacks/summary").json()
    assert summary["delivered"] == 40, summary


def test_a_killed_process_loses_nothing_acknowledged(
    tmp_path: Path, httpserver: Any, receiver: Receiver
):
    """kill -9 of one of two processes under creates, reads and deletes: everything acknowledged
    is there, and the callbacks it held are delivered by the other within the lease."""
    url = httpserver.url_for("/deallocated")
    receiver.refusing = True  # the killed process holds its callbacks, retrying
    with redis_server(tmp_path) as store:
        doomed, survivor = _start(2, "--store", store, "--lease", "1",
                                  "--config", _config(tmp_path, url))
        try:
            acknowledged: dict[str, str] = {}  # id -> "active" or "deallocated"
            deleted_through_doomed: set[str] = set()
            stop = threading.Event()

            def load(k: int) -> None:
                base = (doomed, survivor)[k % 2].base
                with httpx.Client(base_url=base, auth=DEMO, timeout=10) as client:
                    i = 0
                    while not stop.is_set():
                        i += 1
                        try:
                            made = client.post("/v1/tenants/demo/greenpin",
                                               json=_pin_body(k * 10_000 + i))
                            if made.status_code != 200:
                                continue
                            gid = made.json()["data"]["greenpin_id"]
                            acknowledged[gid] = "active"
                            client.get(f"/v1/tenants/demo/greenpin/{gid}")
                            if client.delete(f"/v1/tenants/demo/greenpin/{gid}").status_code == 200:
                                acknowledged[gid] = "deallocated"
                                if k % 2 == 0:
                                    deleted_through_doomed.add(gid)
                        except httpx.TransportError:
                            time.sleep(0.05)  # the killed process; go on

            threads = [threading.Thread(target=load, args=(k,)) for k in range(8)]
            for thread in threads:
                thread.start()
            time.sleep(1.5)
            doomed.process.send_signal(signal.SIGKILL)
            doomed.process.wait(timeout=10)
            killed_at = time.monotonic()
            # Its callbacks were refused so far: pending, on retry timers that died with it.
            receiver.refusing = False
            time.sleep(0.5)  # the survivor goes on under load
            stop.set()
            for thread in threads:
                thread.join(timeout=20)

            assert len(acknowledged) > 20
            with httpx.Client(base_url=survivor.base, auth=DEMO, timeout=10) as client:
                for gid, state in acknowledged.items():
                    found = client.get(f"/v1/tenants/demo/greenpin/{gid}")
                    assert found.status_code == 200, (gid, found.text)
                    if state == "deallocated":
                        assert found.json()["data"]["state"] != "active"
            deleted = {gid for gid, state in acknowledged.items() if state == "deallocated"}
            wait_until(lambda: deleted <= set(receiver.received), timeout=10)
            # The killed process's callbacks: claimed after its lease (1 s) at the survivor's
            # next look (every third of a lease), then sent; slack for a loaded machine.
            assert deleted_through_doomed
            taken_over = max(receiver.arrived[g] for g in deleted_through_doomed) - killed_at
            print(f"the killed process's callbacks all delivered {taken_over:.2f} s after it died")
            assert taken_over < 4.0
        finally:
            doomed.stop()
            survivor.stop()


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _children(pid: int) -> set[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(p) for p in text.split()}


def test_workers_share_one_port_and_a_killed_one_is_replaced(tmp_path: Path):
    """`--workers 2`: two processes on one port serve one mock; a worker killed is started
    again, and what was acknowledged before is still there."""
    with redis_server(tmp_path) as store:
        served = Served("--log-level", "warning", "--store", store, "--workers", "2")
        try:
            workers = wait_until(lambda: len(_children(served.process.pid)) == 2 and
                                 _children(served.process.pid))
            ids = []
            for i in range(20):
                # A new connection each time: the kernel hands them to either worker.
                made = httpx.post(served.base + "/v1/tenants/demo/greenpin", auth=DEMO,
                                  json=_pin_body(i))
                assert made.status_code == 200, made.text
                ids.append(made.json()["data"]["greenpin_id"])
            os.kill(min(workers), signal.SIGKILL)
            replaced: Callable[[], bool] = lambda: (  # noqa: E731
                len(_children(served.process.pid)) == 2
                and min(workers) not in _children(served.process.pid)
            )
            wait_until(replaced, timeout=20)
            for gid in ids:
                found = httpx.get(f"{served.base}/v1/tenants/demo/greenpin/{gid}", auth=DEMO)
                assert found.status_code == 200
            # A supervisor killed outright cannot stop its workers: they stop on their own.
            left = _children(served.process.pid)
            served.process.kill()
            served.process.wait(timeout=10)
            wait_until(lambda: not any(_running(p) for p in left), timeout=10)
        finally:
            served.stop()


# -- in one process: two states on one Redis, as two processes would hold them -----------------


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


def _pair(redis_url: str) -> tuple[Any, Any]:
    from starlette.testclient import TestClient

    from mock_server.app import create_app
    from mock_server.store.shared import RedisState

    prefix = f"pair-{time.monotonic_ns()}:"
    clients = []
    for _ in range(2):
        client = TestClient(create_app(state=RedisState(redis_url, prefix=prefix), tune_gc=False),
                            raise_server_exceptions=False)
        client.__enter__()
        client.auth = DEMO
        clients.append(client)
    return clients[0], clients[1]


@pytest.mark.usefixtures("redis_url")
def test_a_unit_whose_lock_was_lost_changes_nothing_anywhere(redis_url: str):
    """A process that lost the lock (it stalled past it) cannot commit: code 0, and neither it
    nor the other process shows anything of the request."""
    from mock_server.store.shared import RedisState

    first, second = _pair(redis_url)
    try:
        state: RedisState = first.app.state.backend.state
        real = state._acquire

        def acquire_then_lose(**kwargs: Any) -> Any:
            answer = real(**kwargs)
            state._client.delete(state._keys["lock"])  # expired while the unit ran
            return answer

        state._acquire = acquire_then_lose
        refused = first.post("/v1/tenants/demo/greenpin", json=_pin_body(1))
        assert refused.status_code == 500
        assert refused.json()["code"] == 0
        state._acquire = real
        for client in (first, second):
            listed = client.get("/_mock/state?tenant_id=demo").json()["tenants"]["demo"]
            assert listed == []
        assert second.post("/v1/tenants/demo/greenpin", json=_pin_body(1)).status_code == 200
        assert len(first.get("/_mock/state?tenant_id=demo").json()["tenants"]["demo"]) == 1
    finally:
        first.__exit__(None, None, None)
        second.__exit__(None, None, None)


def test_redis_gone_is_code_0_not_a_crash(tmp_path: Path):
    """Redis stopped under a running mock: requests answer code 0 in their envelope."""
    from starlette.testclient import TestClient

    from mock_server.app import create_app
    from mock_server.store.shared import RedisState

    with redis_server(tmp_path) as url:
        state = RedisState(url)
    # The server above is stopped now.
    with TestClient(create_app(state=state, tune_gc=False), raise_server_exceptions=False) as c:
        c.auth = DEMO
        answer = c.post("/v1/tenants/demo/greenpin", json=_pin_body(1))
        assert answer.status_code == 500
        assert answer.json()["code"] == 0
        assert "state could not be kept" in answer.json()["message"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--workers", "2"], "--workers 2 needs a state the processes share: give --store"),
        (["--workers", "0"], "--workers must be from 1 to 64"),
        (["--store", "redis://127.0.0.1:1/0", "--state-file", "x.db"],
         "--store and --state-file exclude each other"),
        (["--store", "http://example.com"], "--store http://example.com: expected a redis://"),
        (["--store", "redis://:secret@127.0.0.1:1/0"],
         "cannot use the store at redis://:***@127.0.0.1:1/0: cannot reach it: is Redis running"),
        (["--store", "redis://:secret@127.0.0.1:99999/0"],
         "--store redis://:***@127.0.0.1:99999/0: Port out of range"),
        (["--store", "redis://127.0.0.1:1/zero"], "--store redis://127.0.0.1:1/zero: the database "
         "is a number"),
        (["--store", "redis://127.0.0.1:1/0?password=secret&socket_timeout=x"],
         "--store redis://127.0.0.1:1/0?password=***&socket_timeout=x: Invalid value"),
    ],
    ids=["workers-alone", "no-workers", "two-stores", "not-redis", "unreachable", "port",
         "database", "query-password"],
)
def test_serve_refuses_a_store_it_cannot_use_in_one_line(capsys, args, says):
    from mock_server.cli import main

    assert main(["serve", "--port", str(free_port()), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("exomock: " + says), err
    assert "secret" not in err


def test_the_log_is_folded_and_a_late_process_starts_from_the_snapshot(redis_url: str):
    """With the log folded every 20 entries: it stays short, a process that lagged behind a
    fold and one that starts afterwards both hold exactly the state the writer holds."""
    import redis as redis_py
    from starlette.testclient import TestClient

    from mock_server.app import create_app
    from mock_server.store.shared import RedisState

    writer, laggard = _pair(redis_url)
    try:
        state: RedisState = writer.app.state.backend.state
        state.compact_after = 20
        prefix = state._keys["log"].removesuffix("log")
        ids = []
        for i in range(60):
            made = writer.post("/v1/tenants/demo/greenpin", json=_pin_body(i))
            assert made.status_code == 200, made.text
            ids.append(made.json()["data"]["greenpin_id"])
            if i % 7 == 0:
                writer.delete(f"/v1/tenants/demo/greenpin/{ids[-1]}")
        # 69 units written; folded at 20 entries, then at as many as the state's objects.
        assert redis_py.Redis.from_url(redis_url).xlen(state._keys["log"]) <= 40
        late = TestClient(create_app(state=RedisState(redis_url, prefix=prefix), tune_gc=False))
        with late:
            late.auth = DEMO
            views = [
                c.get("/_mock/state?tenant_id=demo").json()["tenants"]["demo"]
                for c in (writer, laggard, late)
            ]
            assert len(views[0]) == 60
            assert views[0] == views[1] == views[2]
            # A number held on the VN is held for the late one too.
            again = {**_pin_body(59), "transaction_id": "late-1"}
            taken = late.post("/v1/tenants/demo/greenpin", json=again)
            assert (taken.status_code, taken.json()["code"]) == (409, 19)
    finally:
        writer.__exit__(None, None, None)
        laggard.__exit__(None, None, None)


def test_a_redis_that_lost_its_data_is_followed_not_fought(redis_url: str):
    """Redis restarted without persistence: the processes start over from what it holds instead
    of refusing every write, even a process that was idle while the others committed more units
    than it had applied (it must not take their units for its own)."""
    import redis as redis_py

    first, second = _pair(redis_url)
    try:
        for i in range(5):
            assert second.post("/v1/tenants/demo/greenpin", json=_pin_body(i)).status_code == 200
        state = first.app.state.backend.state
        client = redis_py.Redis.from_url(redis_url)
        client.delete(*client.keys(state._keys["log"].removesuffix("log") + "*"))
        assert first.get("/_mock/state?tenant_id=demo").json()["tenants"]["demo"] == []
        # The second process sleeps while the first commits past its count.
        for i in range(100, 108):
            assert first.post("/v1/tenants/demo/greenpin", json=_pin_body(i)).status_code == 200
        views = [c.get("/_mock/state?tenant_id=demo").json()["tenants"]["demo"]
                 for c in (first, second)]
        assert views[0] == views[1]
        assert {a["ref"] for a in views[0]} == {f"order-{i}" for i in range(100, 108)}
        assert second.post("/v1/tenants/demo/greenpin", json=_pin_body(1)).status_code == 200
        assert len(first.get("/_mock/state?tenant_id=demo").json()["tenants"]["demo"]) == 9
    finally:
        first.__exit__(None, None, None)
        second.__exit__(None, None, None)


def test_a_taken_over_callback_is_not_sent_by_its_old_owner_and_both_attempts_show(
    redis_url: str, httpserver: Any
):
    """A process that comes back from a stall finds its callbacks taken over: it does not send
    them again; the log of every process shows the attempts of both."""
    from mock_server.domain.deliveries import Attempt

    first, second = _pair(redis_url)
    try:
        httpserver.expect_request("/gone").respond_with_data("no", status=503)
        first.put("/_mock/tenants/demo/callback-urls",
                  json={"deallocation": httpserver.url_for("/gone")})
        made = first.post("/v1/tenants/demo/greenpin", json=_pin_body(1)).json()["data"]
        assert first.delete(f"/v1/tenants/demo/greenpin/{made['greenpin_id']}").status_code == 200
        old, new = first.app.state.backend.state, second.app.state.backend.state
        delivery = wait_until(lambda: next(iter(old.log.find(event="deallocation")), None))
        assert old.log.owns(delivery)
        # The first process stalls: its lease runs out, and the second looks twice.
        old._client.delete(old.owners._alive)
        assert new.take_orphans() == []  # one look: only a suspect
        taken = new.take_orphans()
        assert [d.id for d in taken] == [delivery.id]
        assert not old.log.owns(delivery)
        # Each records an attempt of its own: both show everywhere.
        taken[0].attempts.append(Attempt(number=9, at="2099-01-01T00:00:00Z", status_code=200))
        taken[0].outcome = "delivered"
        new.log.update(taken[0])
        first.get("/_mock/clock")  # catches up
        mine = old.log.get(delivery.id)
        assert mine.outcome == "delivered"
        assert {a.number for a in mine.attempts} >= {1, 9}
    finally:
        first.__exit__(None, None, None)
        second.__exit__(None, None, None)
