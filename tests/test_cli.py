"""`exomock serve` as users start it: a real process answering over HTTP."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mock_server.testing import MockServer, free_port

from .helpers import example

AUTH = ("demo_key", "demo_token")


def test_serve_on_the_embedded_default_answers_the_documented_curl(served):
    server = served()
    response = httpx.post(server.base + "/v1/tenants/demo/greenpin", auth=AUTH,
                          json=example("greenpin_create.request.json"))
    assert response.status_code == 200, response.text
    assert response.json()["data"]["a"]["vns"] == ["+916292134471", "+916292134464"]


@pytest.mark.slow
def test_state_file_survives_kill_9(served, tmp_path: Path):
    state = tmp_path / "state.db"
    first = served("--state-file", str(state))
    created = []
    for i in range(20):
        body = {"transaction_id": f"t{i}", "a": {"numbers": [f"98765300{i:02d}"],
                                                 "vns": ["6292134464"], "pin_length": 2},
                "b": {"numbers": [f"98765400{i:02d}"]}}
        response = httpx.post(first.base + "/v1/tenants/demo/greenpin", auth=AUTH, json=body)
        assert response.status_code == 200
        created.append(response.json()["data"])
    httpx.delete(first.base + "/v1/tenants/demo/greenpin/" + created[0]["greenpin_id"], auth=AUTH)
    first.stop(signal.SIGKILL)

    second = served("--state-file", str(state))
    for data in created[1:]:
        got = httpx.get(second.base + "/v1/tenants/demo/greenpin/" + data["greenpin_id"], auth=AUTH)
        assert got.json()["data"] == data
    gone = httpx.get(second.base + "/v1/tenants/demo/greenpin/" + created[0]["greenpin_id"],
                     auth=AUTH)
    assert gone.json()["data"]["state"] == "vault"
    # No PIN is served twice: a PIN still held cannot be given again.
    held = created[1]["a"]["pin"]
    body = {"transaction_id": "new", "a": {"numbers": ["9876599999"], "vns": ["6292134464"],
                                           "pin": held}}
    refused = httpx.post(second.base + "/v1/tenants/demo/greenpin", auth=AUTH, json=body)
    assert (refused.status_code, refused.json()["code"]) == (452, 4)


def test_bad_config_file_is_reported(tmp_path: Path):
    config = tmp_path / "bad.yaml"
    config.write_text("tenants: {demo: {credentials: []}}\n")
    result = subprocess.run(
        [sys.executable, "-m", "mock_server", "serve", "--config", str(config)],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert "is not valid" in result.stderr


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "exomock"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=30,
                            env={**os.environ})
    assert result.returncode == 0
    assert "serve" in result.stdout


@pytest.mark.slow
def test_check_runs_the_contract_suite_against_a_server(served, tmp_path: Path):
    server = served()
    report = tmp_path / "report.xml"
    result = subprocess.run(
        [sys.executable, "-m", "mock_server", "check", "--base-url", server.base,
         "--junitxml", str(report), "-k", "test_scenario and (greenpin_lifecycle or greenvn)"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert "2 passed" in result.stdout
    assert "<testsuite" in report.read_text()
    # What hypothesis keeps between runs is not left in the user's folder.
    assert not (tmp_path / ".hypothesis").exists()


def test_check_fails_when_the_server_is_not_there(tmp_path: Path):
    port = free_port()
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "mock_server", "check", "--base-url", f"http://127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert time.monotonic() - started < 15  # about 4 s on an idle 2-core machine
    assert result.returncode == 4
    # The socket's own reason, not the layers of wrapping around it.
    assert f"cannot connect to http://127.0.0.1:{port}: Connection refused" in result.stdout
    assert "HTTPConnectionPool" not in result.stdout
    assert "passed" not in result.stdout
    assert "failed" not in result.stdout


@pytest.mark.slow
def test_check_says_at_once_when_the_credentials_are_refused(tmp_path: Path):
    with MockServer() as server:
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "mock_server", "check", "--base-url", server.base_url,
             "--api-token", "not-the-token"],
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )
    assert time.monotonic() - started < 15
    assert result.returncode == 4
    assert (f"credentials rejected by {server.base_url} for tenant demo (401): give the right "
            "--tenant, --api-key and --api-token") in result.stdout


def test_state_file_keeps_calls_and_the_callback_log(served, tmp_path: Path):
    state = tmp_path / "state.db"
    first = served("--state-file", str(state))
    body = {"from": {"contact_uri": "9876512345"}, "to": {"contact_uri": "9876554321"},
            "virtual_number": "02235499102"}
    created = httpx.post(first.base + "/v3/accounts/demo/calls", auth=AUTH, json=body)
    assert created.status_code == 200, created.text
    sid = created.json()["response"]["call_details"]["sid"]
    gp = {"transaction_id": "kept", "a": {"numbers": ["9876500077"], "vns": ["6292134464"]}}
    made = httpx.post(first.base + "/v1/tenants/demo/greenpin", auth=AUTH, json=gp).json()
    httpx.delete(first.base + "/v1/tenants/demo/greenpin/" + made["data"]["greenpin_id"],
                 auth=AUTH)
    first.stop(signal.SIGKILL)

    second = served("--state-file", str(state))
    got = httpx.get(f"{second.base}/v3/accounts/demo/calls/{sid}", auth=AUTH)
    assert got.status_code == 200
    assert got.json()["response"]["call_details"]["sid"] == sid
    log = httpx.get(second.base + "/_mock/callbacks", params={"event": "deallocation"}).json()
    assert [e["payload"]["transaction_id"] for e in log["callbacks"]] == ["kept"]


@pytest.mark.parametrize(
    ("args", "says"),
    [(["--port", "80000"], "'80000'"), (["--port", "-1"], "'-1'"), (["--port", "²"], "'²'")],
)
def test_a_port_out_of_range_is_refused_in_one_line(args, says, capsys):
    from mock_server.cli import main

    assert main(["serve", *args]) == 2
    assert capsys.readouterr().err == (
        f"exomock: --port must be a whole number from 0 to 65535, not {says}\n"
    )


def test_a_port_in_use_is_said_before_any_success_line(served):
    first = served()
    result = subprocess.run(
        [sys.executable, "-m", "mock_server", "serve", "--port", str(first.port)],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"exomock: cannot listen on 127.0.0.1 port {first.port}: Address already in use\n"
    )


def test_version():
    result = subprocess.run([sys.executable, "-m", "mock_server", "--version"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert result.stdout.startswith("exomock ")


def test_check_without_the_test_extra_names_it(monkeypatch, capsys):
    import importlib.util

    from mock_server.cli import main

    found = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "schemathesis" else found(name, *a))
    assert main(["check", "--base-url", "http://127.0.0.1:9"]) == 2
    assert capsys.readouterr().err == (
        "exomock: check needs schemathesis, from the test extra: "
        "pip install 'exobridge-mock[test]'\n"
    )


def test_a_401_says_which_credentials_to_send(client):
    for path in ("/v1/tenants/demo/greenpin", "/v1/tenants/demo/greenvn/1",
                 "/v3/accounts/demo/calls/x", "/v1/Accounts/demo/Calls"):
        answer = client.get(path, auth=None)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith('Basic realm="exobridge"')


def test_check_help_documents_the_exit_statuses_and_the_patience_options(capsys):
    from mock_server.cli import main

    with pytest.raises(SystemExit):
        main(["check", "--help"])
    shown = capsys.readouterr().out
    for line in ("0  passed", "1  contract broken", "3  could not judge", "4  not started"):
        assert line in shown
    for option in ("--request-timeout", "--request-retries", "--max-wait", "--wait-budget"):
        assert option in shown


def test_the_readme_lists_the_options_of_check_that_its_help_shows(capsys):
    from mock_server.cli import main

    with pytest.raises(SystemExit):
        main(["check", "--help"])
    shown = set(re.findall(r"(--[a-z][a-z-]+)", capsys.readouterr().out)) - {"--help"}
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("| option | environment | default |"):]
    table = table[: table.index("\n\n")]
    listed = set(re.findall(r"`(--[a-z][a-z-]+)`", table))
    # --junitxml is pytest's own, named in the README's CI section rather than in the table.
    assert shown - {"--junitxml"} == listed
