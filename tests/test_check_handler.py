"""`exomock check-handler` and the `handler_check` fixture, against the example handlers."""

from __future__ import annotations

import asyncio
import re
import shlex
import socket
import subprocess
import threading
import time
import tracemalloc
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.testclient import TestClient

from examples.handlers.broken import (
    AcceptsAnySignature,
    FailsOnDuplicate,
    InvalidConnectJson,
    RefusesUnknownMembers,
    SlowOnRecordings,
)
from examples.handlers.correct import CallbackHandler
from mock_server.cli import main
from mock_server.handler_check import Outcome, Report, check_handler
from mock_server.handler_check.delivery import Sender
from mock_server.testing import free_port

from .helpers import in_thread

SECRET = "whsec_ZXhvbW9jay1leGFtcGxlLXNlY3JldC0yMDI1IQ=="


def served(app: Starlette) -> Any:
    """The app on a free loopback port, in a thread; its base URL."""
    return in_thread(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="error",
                                    lifespan="off", timeout_graceful_shutdown=1))


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    code = main(["check-handler", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def line_of(lines: list[str], name: str) -> int:
    found = [i for i, line in enumerate(lines) if f" {name} | " in line]
    assert len(found) == 1, f"{name!r} in {lines}"
    return found[0]


def failed_names(report: Report) -> list[str]:
    return [r.name for r in report.failures]


def test_the_correct_example_passes_every_check(capsys, tmp_path: Path) -> None:
    with served(CallbackHandler(secret=SECRET).app()) as base:
        code, lines, _ = run_cli(
            capsys, "--url", base + "/callbacks/{event}", "--secret", SECRET,
            "--connect-url", base + "/connect", "--burst", "6",
            "--junitxml", str(tmp_path / "report.xml"),
        )
    assert code == 0, "\n".join(lines)
    checks = [line for line in lines if line.startswith(("ok ", "FAIL", "skip"))]
    assert checks
    assert all(line.startswith("ok ") for line in checks)
    for group in ("payload", "delivery", "signature", "connect"):
        assert any(line.split()[1] == group for line in checks), group
    assert lines[-1].startswith(f"{len(checks)} passed, 0 failed, 0 skipped in ")
    assert "the handler is ready" in lines[-1]
    suite = ET.parse(tmp_path / "report.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == (str(len(checks)), "0")


def test_without_a_secret_the_report_says_signatures_were_not_checked() -> None:
    with served(CallbackHandler().app()) as base:
        report = check_handler(base + "/callbacks/{event}", events=["deallocation"], burst=2)
    assert report.ok
    assert "signatures were not checked: no --secret given" in report.lines()[1]
    skipped = [r for r in report.results if r.outcome is Outcome.SKIPPED]
    assert [(r.group, r.problem) for r in skipped] == [
        ("delivery", "needs two events of one call among --events"),
        ("signature", "no --secret given: the deliveries were unsigned and nothing was forged; "
         "give the handler's secret to check that it verifies them"),
        ("connect", "no --connect-url given"),
    ]
    assert "skipped" in report.summary()
    assert "0 failed" in report.summary()


def test_a_handler_that_answers_500_to_a_duplicate_is_caught(capsys, tmp_path: Path) -> None:
    junit = tmp_path / "report.xml"
    with served(FailsOnDuplicate().app()) as base:
        code, lines, _ = run_cli(capsys, "--url", base + "/callbacks/{event}",
                                 "--events", "deallocation", "--burst", "2",
                                 "--junitxml", str(junit))
    at = line_of(lines, "deallocation: the same delivery twice")
    assert lines[at].startswith("FAIL")
    assert "-> 200, 500 duplicate key" in lines[at]
    assert "request 2 of 2: a 2xx was expected, the handler answered 500" in lines[at + 1]
    assert lines[at + 2].strip() == "replay (run it 2 times):"
    # The replay command, run as printed against a fresh handler, shows the same failure.
    replay = shlex.split(lines[at + 3].replace(base, "{base}"))
    with served(FailsOnDuplicate().app()) as fresh:
        command = [part.replace("{base}", fresh) for part in replay]
        statuses = [subprocess.run(command, capture_output=True, text=True, check=True).stdout
                    .split()[1] for _ in range(2)]
    assert code == 1
    assert statuses == ["200", "500"]
    assert lines[-1].startswith("8 passed, 1 failed, 3 skipped")
    failure = ET.parse(junit).getroot().find("testsuite/testcase/failure")
    assert failure is not None
    assert "curl" in (failure.text or "")
    assert "the handler answered 500" in failure.get("message", "")


def test_a_handler_that_refuses_an_unknown_member_is_caught() -> None:
    with served(RefusesUnknownMembers().app()) as base:
        report = check_handler(base + "/callbacks/{event}",
                               events=["call_completed", "deallocation"], burst=2)
    assert failed_names(report) == [
        "call_completed: one unknown member (exomock_added_member)",
        "deallocation: one unknown member (exomock_added_member)",
    ]
    assert "the handler answered 422" in (report.failures[0].problem or "")
    assert "exomock_added_member" in report.failures[0].replay[0].curl()


def test_a_handler_that_answers_after_the_deadline_is_caught() -> None:
    with served(SlowOnRecordings(fetch_seconds=0.4).app()) as base:
        report = check_handler(base + "/callbacks/{event}", events=["call_completed"],
                               timeout=0.2, burst=2)
    assert "call_completed: completed, recorded" in failed_names(report)
    assert "call_completed: completed, not recorded (recording_url null)" not in failed_names(
        report
    )
    slow = next(r for r in report.failures if r.name == "call_completed: completed, recorded")
    assert slow.got == "no answer within 0.2 s"
    assert slow.problem == "a 2xx within 0.2 s was expected; no answer within 0.2 s"


def test_a_handler_that_accepts_a_bad_signature_is_caught() -> None:
    with served(AcceptsAnySignature(secret=SECRET).app()) as base:
        report = check_handler(base + "/callbacks/{event}", events=["deallocation"],
                               secret=SECRET, burst=2)
    assert failed_names(report) == [
        "deallocation: body changed after signing",
        "deallocation: signed with another secret",
        "deallocation: timestamp 15 minutes old",
    ]
    assert report.failures[2].problem == (
        "the handler accepted a timestamp 15 minutes old: refuse webhook-timestamp more than "
        "5 minutes from now, or a recorded delivery can be replayed (a 4xx refusal was expected)"
    )
    assert all("the handler accepted a" in (r.problem or "") for r in report.failures)
    passed = {r.name for r in report.results if r.outcome is Outcome.PASSED}
    assert {"deallocation: correctly signed", "deallocation: no signature headers"} <= passed


def test_a_connect_url_that_answers_invalid_json_is_caught() -> None:
    with served(InvalidConnectJson().app()) as base:
        report = check_handler(base + "/callbacks/{event}", events=["verification_failed"],
                               connect_url=base + "/connect", burst=2)
    assert [r.group for r in report.failures] == ["connect"] * 3
    assert all((r.problem or "").startswith("the answer is not valid JSON")
               for r in report.failures)
    assert report.failures[0].replay[0].url.startswith(base + "/connect?CallSid=")


class WrongConnectMembers(CallbackHandler):
    def connect_answer(self, query: dict[str, str]) -> dict[str, Any]:
        return {"destination": [{"contact_uri": "agent one"}], "music_on_hold": {"type": "url"},
                "record": True}


def test_connect_answer_violations_are_named_by_member() -> None:
    with served(WrongConnectMembers().app()) as base:
        report = check_handler(base + "/callbacks/{event}", events=["verification_failed"],
                               connect_url=base + "/connect", burst=2)
    problem = report.failures[0].problem or ""
    assert "destination/0/contact_uri: does not have the form the schema requires" in problem
    assert "music_on_hold: the required member 'value' is missing" in problem
    assert "(top): 1 member(s) the schema does not allow" in problem


class SlowConnect(CallbackHandler):
    async def connect(self, request: Request) -> Response:
        await asyncio.sleep(0.4)
        return await super().connect(request)


def test_a_connect_url_that_answers_after_the_deadline_is_caught() -> None:
    with served(SlowConnect().app()) as base:
        report = check_handler(base + "/callbacks/{event}", events=["verification_failed"],
                               connect_url=base + "/connect", timeout=0.2, burst=2)
    assert report.lines()[0].endswith(f"{base}/connect: valid JSON within 0.2 s")
    assert [(r.group, r.problem) for r in report.failures] == [
        ("connect", "no answer within 0.2 s")
    ] * 3


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--events", "call_completed,dealocation"], "unknown event 'dealocation'"),
        (["--events", "connect_applet_request"], "checked with --connect-url"),
        (["--secret", "hunter2"], "--secret must be 'whsec_' followed by base64"),
        (["--timeout", "0"], "--timeout must be a number of seconds more than 0 and at most 300"),
    ],
)
def test_options_that_cannot_work_are_refused(capsys, args: list[str], said: str) -> None:
    code, lines, err = run_cli(capsys, "--url", "http://127.0.0.1:9/hook", *args)
    assert (code, lines) == (2, [])
    assert err.startswith("exomock: ")
    assert said in err


def test_the_fixture_checks_an_app_in_the_same_process(handler_check) -> None:
    with TestClient(CallbackHandler(secret=SECRET).app()) as client:
        report = handler_check("http://testserver/callbacks/{event}", secret=SECRET,
                               connect_url="http://testserver/connect", burst=3, client=client)
        report.assert_ok()
    with TestClient(FailsOnDuplicate().app()) as client:
        broken = handler_check("http://testserver/callbacks/{event}", events=["deallocation"],
                               burst=2, client=client)
    with pytest.raises(AssertionError, match="deallocation: the same delivery twice"):
        broken.assert_ok()



def test_a_handler_nobody_listens_for_is_said_once(capsys) -> None:
    url = f"http://127.0.0.1:{free_port()}/callbacks"
    started = time.monotonic()
    assert main(["check-handler", "--url", url]) == 2
    assert time.monotonic() - started < 10
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"exomock: cannot connect to {url}: ")
    assert err.count("\n") == 1


# A misbehaving handler's answer: given the connection, the request's method and a stop flag.
RawAnswer = Callable[[socket.socket, bytes, threading.Event], None]
# How long a raw handler misbehaves at most, so that a run without deadlines still ends.
MISBEHAVE_SECONDS = 3.0


@contextmanager
def raw_handler(answer: RawAnswer) -> Iterator[tuple[str, list[int]]]:
    """A handler on a bare socket, to misbehave as no framework lets one: it reads each request,
    then `answer`s on its connection. Its base URL, and a list that counts the connections."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()
    connections: list[int] = []

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(MISBEHAVE_SECONDS)
            try:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                while length and len(body) < int(length.group(1)):
                    body += conn.recv(65536)
                answer(conn, head.split(b" ", 1)[0], stop)
            except OSError:
                pass  # the checker hung up: what the deadline is for

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            connections.append(1)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", connections
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def dribble(conn: socket.socket, stop: threading.Event) -> None:
    """One byte every 50 ms: each read of the checker's gets something, so none times out."""
    ends = time.monotonic() + MISBEHAVE_SECONDS
    while not stop.is_set() and time.monotonic() < ends:
        conn.sendall(b"a")
        time.sleep(0.05)


def headers_byte_by_byte(conn: socket.socket, method: bytes, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nx-slow: ")
    dribble(conn, stop)
    conn.sendall(b"\r\ncontent-length: 0\r\n\r\n")


def a_gigabyte_slowly(conn: socket.socket, method: bytes, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 1073741824\r\n\r\n")
    dribble(conn, stop)


@pytest.mark.parametrize(
    ("answer", "said"),
    [(headers_byte_by_byte, "no answer within 0.2 s"),
     (a_gigabyte_slowly, "no whole answer within 0.2 s")],
)
def test_every_exchange_ends_at_its_deadline_whatever_the_handler_sends(
    answer: RawAnswer, said: str
) -> None:
    started = time.monotonic()
    with raw_handler(answer) as (base, _):
        report = check_handler(base + "/callbacks/{event}", events=["verification_failed"],
                               connect_url=base + "/connect", timeout=0.2, burst=1)
    # 7 deliveries and 3 applet GETs of 0.2 s each, and the first HEAD; never the 3 s dribble.
    assert time.monotonic() - started < 3.5
    judged = [r for r in report.results if r.outcome is not Outcome.SKIPPED]
    assert [r.group for r in report.failures] == [r.group for r in judged]
    assert {r.group for r in judged} == {"payload", "delivery", "connect"}
    assert all(said in (r.problem or "") for r in report.failures), report.text()


def a_32_mb_answer(conn: socket.socket, method: bytes, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 33554432\r\n\r\n")
    megabyte = b"x" * 1048576
    for _ in range(32):
        conn.sendall(megabyte)


def test_an_answer_is_read_up_to_its_cap_and_said_cut() -> None:
    with raw_handler(a_32_mb_answer) as (base, _), httpx.Client() as client:
        sender = Sender(client, base + "/callbacks/{event}", None, 5.0)
        tracemalloc.start()
        try:
            exchange = sender.post("deallocation", {"transaction_id": "t-1"})
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 2 * 1048576
    assert exchange.status == 500
    assert exchange.outcome().endswith(" (answer cut at 64 KiB)")
    assert len(exchange.answer) == 1000


HOSTILE = b"\x00\x1b[2J\x1b[31mRED ]]> & <x> \xff\xfe \x07"


def hostile_answer(conn: socket.socket, method: bytes, stop: threading.Event) -> None:
    head = b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: %d\r\n\r\n" % len(HOSTILE)
    conn.sendall(head if method == b"HEAD" else head + HOSTILE)


def test_what_a_handler_answers_is_escaped_on_the_terminal_and_in_junit(
    capsys, tmp_path: Path
) -> None:
    junit = tmp_path / "report.xml"
    with raw_handler(hostile_answer) as (base, _):
        code, lines, _ = run_cli(capsys, "--url", base + "/callbacks/{event}",
                                 "--events", "verification_failed", "--burst", "1",
                                 "--connect-url", base + "/connect", "--junitxml", str(junit))
    assert code == 1
    out = "\n".join(lines)
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", out)
    assert "500 \\x00\\x1b[2J\\x1b[31mRED ]]> & <x> \ufffd\ufffd \\x07" in out
    text = junit.read_bytes().decode("utf-8")
    # Only what XML 1.0 allows, so that any parser reads it.
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", text)
    failures = ET.parse(junit).getroot().findall("testsuite/testcase/failure")
    assert failures
    assert "\\x1b[2J\\x1b[31mRED ]]> & <x>" in failures[0].get("message", "")
    assert "\\x1b[2J\\x1b[31mRED ]]> & <x>" in (failures[0].text or "")


def answers_at_once(conn: socket.socket, method: bytes, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")


TIMEOUTS_TAKEN = "a number of seconds more than 0 and at most 300"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        *((["--timeout", value], f"--timeout must be {TIMEOUTS_TAKEN}")
          for value in ("nan", "inf", "1e9", "-1")),
        (["--burst", "1001"], "--burst must be from 1 to 1000"),
        (["--events", ""], "--events must name at least one event"),
        (["--events", "deallocation,,call_completed"], "has an empty item"),
        (["--junitxml", "/nonexistent/dir/x.xml"], "the folder '/nonexistent/dir' does not exist"),
        (["--url", "{base}/callbacks/{evnt}"], "--url has {evnt}: the only placeholder"),
        (["--url", "{base}/callbacks/{event"], "--url has an unmatched brace"),
    ],
)
def test_options_are_refused_before_anything_is_sent(
    capsys, args: list[str], said: str
) -> None:
    with raw_handler(answers_at_once) as (base, connections):
        code, lines, err = run_cli(capsys, "--url", base + "/callbacks/{event}",
                                   *(arg.replace("{base}", base) for arg in args))
    assert (code, lines, connections) == (2, [], [])
    assert err.startswith("exomock: ")
    assert err.count("\n") == 1
    assert said in err
