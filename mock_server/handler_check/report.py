"""The outcome of a run: one line per check, a summary, JUnit XML."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from .delivery import Exchange

__all__ = ["CheckResult", "Outcome", "Report", "printable"]

# What a handler's answer may hold that would act on a terminal rather than show, or that XML 1.0
# forbids: C0 and C1 controls and DEL, the marks that reorder text (bidirectional overrides and
# isolates), line and paragraph separators, surrogates and the noncharacters U+FFFE and U+FFFF.
_UNPRINTABLE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]"
)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with what would act on a terminal (or break XML) escaped: ESC as `\\x1b`."""
    return _UNPRINTABLE.sub(_escaped, text)


class Outcome(StrEnum):
    PASSED = "ok"
    FAILED = "FAIL"
    SKIPPED = "skip"


@dataclass
class CheckResult:
    """One check: what was sent, what came back, how long it took, and why it failed."""

    group: str
    name: str
    sent: str
    got: str
    elapsed: float
    outcome: Outcome = Outcome.PASSED
    problem: str | None = None
    # The requests to replay a failure with, in the order they were sent.
    replay: list[Exchange] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.outcome is Outcome.FAILED

    def line(self) -> str:
        took = f" in {self.elapsed * 1000:.0f} ms" if self.outcome is not Outcome.SKIPPED else ""
        got = f" -> {self.got}" if self.got else ""
        line = f"{self.outcome.value:<4}  {self.group:<10}  {self.name} | {self.sent}{got}{took}"
        return printable(line)

    def details(self) -> list[str]:
        """What follows the line of a failure (or a skip): why, and how to replay it."""
        lines = [self.problem] if self.problem else []
        if self.failed and self.replay:
            commands = [exchange.curl() for exchange in self.replay]
            if len(commands) == 1:
                lines.append("replay:")
            elif len(set(commands)) == 1:
                lines.append(f"replay (run it {len(commands)} times):")
                commands = commands[:1]
            else:
                lines.append("replay (in order):")
            lines += commands
        return [printable(line) for line in lines]

    def lines(self) -> list[str]:
        return [self.line(), *(f"      {detail}" for detail in self.details())]


@dataclass
class Report:
    # What was checked, with the deadlines: the report's first line.
    title: str
    results: list[CheckResult] = field(default_factory=list)
    elapsed: float = 0.0
    # What the run could not judge, said once at the top (e.g. signatures without a secret).
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.failed]

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)

    def summary(self) -> str:
        passed, failed = self.count(Outcome.PASSED), self.count(Outcome.FAILED)
        skipped = self.count(Outcome.SKIPPED)
        verdict = "ready" if self.ok else "NOT ready"
        return (f"{passed} passed, {failed} failed, {skipped} skipped in {self.elapsed:.1f} s: "
                f"the handler is {verdict} for the provider's callbacks")

    def lines(self) -> list[str]:
        lines = [printable(self.title), *map(printable, self.notes)]
        for result in self.results:
            lines += result.lines()
        lines.append(self.summary())
        return lines

    def text(self) -> str:
        return "\n".join(self.lines())

    def assert_ok(self) -> None:
        """Fails (AssertionError) with the whole report when any check failed."""
        if not self.ok:
            raise AssertionError("the handler failed checks:\n" + self.text())

    def write_junit(self, path: str | Path) -> None:
        suite = ET.Element(
            "testsuite",
            name="exomock check-handler",
            tests=str(len(self.results)),
            failures=str(self.count(Outcome.FAILED)),
            skipped=str(self.count(Outcome.SKIPPED)),
            errors="0",
            time=f"{self.elapsed:.3f}",
        )
        for result in self.results:
            case = ET.SubElement(
                suite, "testcase", classname=f"check_handler.{result.group}",
                name=printable(result.name), time=f"{result.elapsed:.3f}",
            )
            # Every text a handler may have put here is printable(), so the XML is well-formed.
            message = printable(result.problem or result.outcome.name.lower())
            if result.outcome is Outcome.FAILED:
                failure = ET.SubElement(case, "failure", message=message)
                failure.text = "\n".join([result.line(), *result.details()])
            elif result.outcome is Outcome.SKIPPED:
                ET.SubElement(case, "skipped", message=message)
        root = ET.Element("testsuites")
        root.append(suite)
        ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
