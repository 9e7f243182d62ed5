"""The state file: one process at a time, a format version with migration, no pickle, a clear
refusal of any file that is not a usable state, and a restart that goes on where it stopped."""

from __future__ import annotations

import json
import pickle
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mock_server.app import create_app
from mock_server.cli import main
from mock_server.clock import FrozenClock
from mock_server.settings import Settings
from mock_server.store.state import State
from mock_server.testing import free_port

from .helpers import DEMO, START

DATA = Path(__file__).parent / "data"
GP = "/v1/tenants/demo/greenpin"


def serve_exit(path: Path | str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`exomock serve --state-file path` when the file is refused: its exit code and stderr."""

    def started(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"the mock started on {path}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("uvicorn.Server.run", started)
        code = main(["serve", "--state-file", str(path)])
    return code, capsys.readouterr().err


def app_on(path: Path, seed: int | None = None, **kwargs: Any) -> TestClient:
    app = create_app(
        Settings.load(), state=State.open(str(path)), clock=FrozenClock(START), seed=seed,
        tune_gc=False, **kwargs,
    )
    client = TestClient(app, raise_server_exceptions=False)
    client.auth = DEMO
    return client


# -- the format of release 0.1.0 ---------------------------------------------------------------


def test_a_file_of_release_0_1_0_loads_and_is_migrated(tmp_path):
    path = tmp_path / "state.db"
    shutil.copy(DATA / "state_v1.db", path)
    expected = json.loads((DATA / "state_v1.expected.json").read_text())
    # Without its lifespan the app does not resume the pending deliveries, which would change
    # their outcome.
    client = app_on(path)
    assert client.get("/_mock/state").json()["tenants"] == expected["tenants"]
    callbacks = [
        {k: d[k] for k in ("id", "event", "outcome", "url", "payload")}
        for d in client.get("/_mock/callbacks").json()["callbacks"]
    ]
    assert callbacks == expected["callbacks"]
    assert client.get("/v1/Accounts/demo/Calls").json()["Calls"] == expected["calls"]
    client.app.state.backend.state.close()

    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("2",)
    for (body,) in db.execute("SELECT body FROM calls"):
        assert json.loads(body)["tenant_id"] == "demo"  # JSON, not a pickle
    db.close()


def test_a_crafted_pickle_in_an_old_file_is_refused_not_run(tmp_path, capsys):
    path = tmp_path / "state.db"
    shutil.copy(DATA / "state_v1.db", path)
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self) -> tuple[Any, ...]:
            return (shutil.copy, (str(DATA / "state_v1.expected.json"), str(marker)))

    db = sqlite3.connect(path)
    db.execute("UPDATE calls SET body = ?", (pickle.dumps(Payload()),))
    db.commit()
    db.close()
    code, err = serve_exit(path, capsys)
    assert code == 2
    assert not marker.exists()
    assert err.count("\n") == 1
    assert err.startswith(f"exomock: {path}: call ")
    assert "is not allowed" in err


# -- files that are not a usable state ---------------------------------------------------------


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database\n" * 200)


def _truncated(path: Path) -> None:
    path.write_bytes((DATA / "state_v1.db").read_bytes()[:6000])


def _sql(path: Path, *statements: str, from_release_0_1_0: bool = True) -> None:
    """The fixture of release 0.1.0 (or a new file) with the statements run on it."""
    if from_release_0_1_0:
        shutil.copy(DATA / "state_v1.db", path)
    db = sqlite3.connect(path)
    for statement in statements:
        db.execute(statement)
    db.commit()
    db.close()


def _foreign(path: Path) -> None:
    _sql(path, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)",
         "INSERT INTO users VALUES (1, 'someone')", from_release_0_1_0=False)


def _newer(path: Path) -> None:
    _sql(path, "UPDATE meta SET value = '99' WHERE key = 'schema_version'")


def _broken_row(path: Path) -> None:
    _sql(path, "UPDATE allocations SET body = '{\"kind\": 1}'"
               " WHERE seq = (SELECT MIN(seq) FROM allocations)")


def _conflicting(path: Path) -> None:
    """Two active allocations holding one PIN on one VN, as a lost write could once leave."""
    shutil.copy(DATA / "state_v1.db", path)
    db = sqlite3.connect(path)
    tenant, allocation_id, seq, body = db.execute(
        "SELECT tenant_id, id, seq, body FROM allocations WHERE body LIKE '%\"state\":\"active\"%'"
        " ORDER BY seq LIMIT 1"
    ).fetchone()
    copy = json.loads(body)
    copy["ref"] = "another"
    db.execute("INSERT INTO allocations VALUES (?, ?, ?, ?)",
               (tenant, allocation_id + "-2", seq + 100, json.dumps(copy)))
    db.commit()
    db.close()


def _nan_clock(path: Path) -> None:
    _sql(path, "INSERT INTO meta VALUES ('runtime', '{\"clock_offset\": NaN}')")


def _a_view_only(path: Path) -> None:
    _sql(path, "CREATE VIEW v AS SELECT 1", from_release_0_1_0=False)


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (_garbage, "is not readable: file is not a database"),
        (_truncated, "is not readable"),
        (_foreign, "is not an exomock state file (it has tables users)"),
        (_newer, "is in format 99, written by a newer exomock"),
        (_broken_row, "has an unreadable row in allocations"),
        (_conflicting, "both hold"),
        (_nan_clock, "has an unreadable row in meta"),
        (_a_view_only, "is not an exomock state file"),
    ],
    ids=["garbage", "truncated", "foreign", "newer", "broken-row", "conflicting", "nan-clock",
         "view-only"],
)
def test_an_unusable_file_is_refused_in_one_line(tmp_path, capsys, make, says):
    path = tmp_path / "state.db"
    make(path)
    before = path.read_bytes()
    code, err = serve_exit(path, capsys)
    assert code == 2
    assert err.count("\n") == 1, err
    assert err.startswith("exomock: "), err
    assert str(path) in err
    assert says in err, err
    assert "Traceback" not in err
    # Refused, not started empty over it.
    assert path.read_bytes() == before


def test_a_folder_or_a_missing_folder_is_refused_in_one_line(tmp_path, capsys):
    code, err = serve_exit(tmp_path, capsys)
    assert (code, err) == (2, f"exomock: state file {tmp_path} is a directory\n")
    missing = tmp_path / "nowhere" / "state.db"
    code, err = serve_exit(missing, capsys)
    assert code == 2
    assert err == f"exomock: state file {missing}: folder {missing.parent} does not exist\n"


def test_a_refused_file_with_a_wal_is_left_as_it_was(tmp_path, capsys):
    """A newer format that sits in the WAL still: refused, and neither file is touched (closing
    a connection that may write would fold the WAL into the file)."""
    source = tmp_path / "source.db"
    db = sqlite3.connect(source)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    db.execute("CREATE TABLE allocations (tenant_id TEXT, id TEXT, seq INTEGER, body TEXT)")
    db.execute("INSERT INTO meta VALUES ('schema_version', '3')")
    db.commit()
    path = tmp_path / "state.db"
    shutil.copy(source, path)
    shutil.copy(str(source) + "-wal", str(path) + "-wal")
    db.close()
    before = path.read_bytes(), Path(str(path) + "-wal").read_bytes()
    code, err = serve_exit(path, capsys)
    assert code == 2
    assert "is in format 3, written by a newer exomock" in err
    assert (path.read_bytes(), Path(str(path) + "-wal").read_bytes()) == before


# -- one process at a time ---------------------------------------------------------------------


@pytest.mark.parametrize("link", ["symbolic", "hard"])
def test_another_name_for_the_file_meets_the_same_lock(tmp_path, capsys, link):
    path = tmp_path / "state.db"
    holding = State.open(str(path))
    try:
        other = tmp_path / "other-name.db"
        if link == "symbolic":
            other.symlink_to(path)
        else:
            other.hardlink_to(path)
        code, err = serve_exit(other, capsys)
        assert code == 2
        # Through a hard link the note naming the holder (beside the other name) is not found.
        holder = "exomock pid " if link == "symbolic" else "another process"
        assert err.startswith(f"exomock: state file {other} is in use by {holder}")
    finally:
        holding.close()


def test_a_second_server_on_one_file_exits_2_naming_the_holder(tmp_path):
    path = tmp_path / "state.db"
    port = free_port()
    first = subprocess.Popen(
        [sys.executable, "-m", "mock_server", "serve", "--port", str(port),
         "--state-file", str(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/_mock/clock", timeout=0.5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the first server did not start"
                time.sleep(0.05)
        second = subprocess.run(
            [sys.executable, "-m", "mock_server", "serve", "--port", str(free_port()),
             "--state-file", str(path)],
            capture_output=True, text=True, timeout=30,
        )
        assert second.returncode == 2
        assert second.stderr == (
            f"exomock: state file {path} is in use by exomock pid {first.pid} on "
            + second.stderr.split(f"pid {first.pid} on ", 1)[1]
        )
        assert second.stderr.count("\n") == 1
        assert "since" in second.stderr
        # The first one is unharmed.
        assert httpx.get(f"http://127.0.0.1:{port}/_mock/clock").status_code == 200
    finally:
        first.kill()
        first.wait(timeout=10)


# -- a restart goes on where it stopped --------------------------------------------------------


def _create(client: TestClient, ref: str) -> str:
    answer = client.post(GP, json={
        "transaction_id": ref, "a": {"numbers": ["+919811111111"], "vns": ["+916292134464"]},
        "b": {"numbers": ["+919822222222"]},
    })
    assert answer.status_code == 200, answer.text
    greenpin_id: str = answer.json()["data"]["greenpin_id"]
    client.delete(f"{GP}/{greenpin_id}")
    return greenpin_id


def _ids(client: TestClient) -> set[str]:
    """Every id the run handed out: allocations, calls, callbacks."""
    ids = {a["id"] for a in client.get("/_mock/state").json()["tenants"]["demo"]}
    ids |= {c["Sid"] for c in client.get("/v1/Accounts/demo/Calls").json()["Calls"]}
    ids |= {d["id"] for d in client.get("/_mock/callbacks").json()["callbacks"]}
    return ids


def test_a_seeded_restart_repeats_no_id(tmp_path):
    path = tmp_path / "state.db"
    runs = []
    for run in range(3):
        client = app_on(path, seed=42)
        before = _ids(client)
        for i in range(5):
            _create(client, f"run{run}-{i}")
            call = client.post("/v3/accounts/demo/calls", json={
                "from": {"contact_uri": "+919811112222"}, "to": {"contact_uri": "+919833334444"},
                "virtual_number": "+916292134464"})
            assert call.status_code == 200
        runs.append(_ids(client) - before)
        client.app.state.backend.state.close()
    assert all(len(new) == 15 for new in runs)  # 5 allocations, 5 calls, 5 callbacks each
    assert not runs[0] & runs[1]
    assert not runs[0] & runs[2]
    assert not runs[1] & runs[2]
    # The first run on a new file draws what the seed alone gives, as without a file.
    plain = create_app(Settings.load(), clock=FrozenClock(START), seed=42, tune_gc=False)
    with TestClient(plain) as client:
        client.auth = DEMO
        assert _create(client, "run0-0") in runs[0]


def test_the_clock_and_run_time_urls_survive_a_restart(tmp_path):
    path = tmp_path / "state.db"
    client = app_on(path)
    assert client.post("/_mock/clock/advance", json={"seconds": 3600}).status_code == 200
    urls = {"deallocation": "http://127.0.0.1:9/dealloc", "*": "http://127.0.0.1:9/all"}
    assert client.put("/_mock/tenants/demo/callback-urls", json=urls).status_code == 200
    connect = client.put("/_mock/tenants/demo/vns/+916292134465/connect-url",
                         json={"url": "http://127.0.0.1:9/connect"})
    assert connect.status_code == 200
    before = client.get("/_mock/clock").json()
    client.app.state.backend.state.close()

    again = app_on(path)
    clock = again.get("/_mock/clock").json()
    assert clock["offset_seconds"] == 3600
    assert clock["epoch_seconds"] >= before["epoch_seconds"]
    backend = again.app.state.backend
    assert dict(backend.callback_urls("demo")) == urls
    assert backend.connect_url("+916292134465") == "http://127.0.0.1:9/connect"
    # A reset still goes back to the configuration.
    assert again.post("/_mock/reset").status_code == 200
    assert dict(backend.callback_urls("demo")) == {}
    assert backend.connect_url("+916292134465") is None
    assert again.get("/_mock/clock").json()["offset_seconds"] == 0
    backend.state.close()
