"""What a run concluded, told three ways: a closing summary, the JUnit report, the exit status.

A test ends in one of four outcomes: passed, failed (the contract is broken), skipped, or
unavailable (the server was throttled, unavailable or unreachable past the suite's patience, so
nothing was judged). The run's exit status says which verdict the pipeline may draw:

    0  PASSED       every test that ran found the contract kept
    1  BROKEN       at least one test found the contract broken
    3  NOT_JUDGED   no contract failure, but some tests could not judge (server unavailable)

(4 is pytest's usage error: the server could not be reached at all, or refused the credentials.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from .transport import UNAVAILABLE

PASSED, BROKEN, NOT_JUDGED = 0, 1, 3
OUTCOME_PROPERTY = "contract_outcome"

_CHECK = re.compile(r"^\s*\|?\s*- (ST\d+ [^\n]+)$", re.MULTILINE)
_CURL = re.compile(r"(curl -X [^\n]+)")
_OUTCOMES: dict[str, tuple[str, str]] = {}


MARK = f"{UNAVAILABLE}: "


def _text(report: pytest.TestReport) -> str:
    """The failure's text, or the skip's reason alone (from the mark on, when unavailable)."""
    if not isinstance(report.longrepr, tuple):
        return report.longreprtext
    reason = str(report.longrepr[2]).removeprefix("Skipped: ")
    return reason[reason.index(MARK):] if MARK in reason else reason


def _is_unavailable(report: pytest.TestReport) -> bool:
    return report.skipped and _text(report).startswith(MARK)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Iterator[None]:
    report: Any = yield
    if _is_unavailable(report):
        # The JUnit report marks the test case with it (from the item's last report), beside
        # the skip's message.
        item.user_properties.append((OUTCOME_PROPERTY, UNAVAILABLE))
    return report  # type: ignore[no-any-return]


def pytest_report_teststatus(report: pytest.TestReport,
                             config: pytest.Config) -> tuple[str, str, str] | None:
    if _is_unavailable(report):
        return "unavailable", "U", "UNAVAILABLE"
    return None


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "contract_tests" not in report.nodeid:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        text = _text(report) if report.failed or report.skipped else ""
        outcome = "unavailable" if _is_unavailable(report) else report.outcome
        # schemathesis reports each operation as a sub-test of one item: its head line names it.
        name = report.head_line or report.nodeid.split("::", 1)[-1]
        _OUTCOMES[name] = (outcome, text)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    unavailable = any(outcome == "unavailable" for outcome, _ in _OUTCOMES.values())
    if exitstatus == pytest.ExitCode.OK and unavailable:
        session.exitstatus = NOT_JUDGED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Operation (or scenario) by outcome, with each failing request as a curl command; tests
    the server did not let run are listed apart, as they say nothing of the contract."""
    if not _OUTCOMES:
        return
    write = terminalreporter.write_line
    terminalreporter.section("contract summary")
    for name, (outcome, text) in sorted(_OUTCOMES.items()):
        last = text.strip().splitlines()[-1] if text.strip() else ""
        if outcome == "passed":
            write(f"PASS  {name}")
        elif outcome == "skipped":
            write(f"SKIP  {name}  {last[-120:]}")
        elif outcome == "failed":
            checks = sorted(set(_CHECK.findall(text))) or [last[:120]]
            write(f"FAIL  {name}")
            for check in checks:
                write(f"        {check.strip()}")
            for curl in list(dict.fromkeys(_CURL.findall(text)))[:3]:
                write(f"        {curl.strip()}")
    counts = {kind: sum(o == kind for o, _ in _OUTCOMES.values())
              for kind in ("passed", "failed", "unavailable", "skipped")}
    unavailable = [(name, text) for name, (o, text) in sorted(_OUTCOMES.items())
                   if o == "unavailable"]
    if unavailable:
        terminalreporter.section("not judged: the server was unavailable")
        for name, text in unavailable:
            write(f"UNAVAILABLE  {name}  {text.removeprefix(MARK)[:240]}")
    verdict = ("contract broken" if counts["failed"] else
               "could not judge" if counts["unavailable"] else "contract kept")
    write(f"contract: {verdict}: {counts['passed']} passed, {counts['failed']} failed, "
          f"{counts['unavailable']} not judged (server unavailable), "
          f"{counts['skipped']} skipped")
