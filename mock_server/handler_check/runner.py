"""`check_handler`: every check against one handler, as `exomock check-handler` runs them."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence

import httpx

from ..callbacks.connect_fetch import CONNECT_TIMEOUT_SECONDS
from .bounded import bounded_request, own_client
from .cases import POSTED_EVENTS
from .checks import CHECKS, Context
from .delivery import Sender, secret_problem
from .report import Report, printable

__all__ = [
    "DEFAULT_BURST",
    "DEFAULT_TIMEOUT",
    "MAX_BURST",
    "MAX_TIMEOUT",
    "HandlerCheckError",
    "check_handler",
]

# The mock's own deadline for one delivery (`callbacks.timeout_seconds`).
DEFAULT_TIMEOUT = 15.0
# The longest deadline a run takes: five minutes per exchange is already far past any provider's.
MAX_TIMEOUT = 300.0
DEFAULT_BURST = 20
MAX_BURST = 1000
# `{...}` in a URL: only `{event}` is replaced.
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


class HandlerCheckError(ValueError):
    """The run cannot start: an unknown event, a secret that cannot sign, a URL that is not one."""


def _url_problem(option: str, url: str) -> str | None:
    try:
        parsed = httpx.URL(url.replace("{event}", "event"))
    except httpx.InvalidURL as exc:
        return f"{option} {url!r} is not a URL: {exc}"
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return f"{option} {url!r} must be an absolute http:// or https:// URL"
    return None


def _placeholder_problem(url: str) -> str | None:
    rest = url.replace("{event}", "")
    if "{" not in rest and "}" not in rest:
        return None
    found = _PLACEHOLDER.findall(rest)
    what = found[0] if found else "an unmatched brace"
    return f"--url has {what}: the only placeholder it may hold is {{event}}"


def _events(events: Sequence[str] | None) -> tuple[str, ...]:
    if events is None:
        return POSTED_EVENTS
    if isinstance(events, str):  # "a,b" as on the command line
        events = [e.strip() for e in events.split(",")]
    if not events or events == [""]:
        raise HandlerCheckError("--events must name at least one event")
    if "" in events:
        raise HandlerCheckError(f"--events {','.join(events)!r} has an empty item")
    unknown = [e for e in events if e not in POSTED_EVENTS]
    if unknown:
        connect = [e for e in unknown if e.startswith("connect_applet_")]
        hint = " (the Connect applet is checked with --connect-url)" if connect else ""
        raise HandlerCheckError(
            f"unknown event {unknown[0]!r}{hint}; the POSTed events are: "
            + ", ".join(POSTED_EVENTS)
        )
    return tuple(dict.fromkeys(events))


def _reachable(http: httpx.Client, url: str, timeout: float) -> None:
    """One HEAD request, so that a handler nobody listens for is said once, not by every
    check (any answer will do; a slow or odd one, the checks will say)."""
    answer = bounded_request(http, "HEAD", url, headers={"user-agent": "exomock-check-handler"},
                             body=b"", deadline=timeout, cap=0)
    if answer.unreachable:
        http.close()
        raise HandlerCheckError(f"cannot connect to {url}: {printable(answer.error or '')[:200]}")


def _option_problems(
    url: str, connect_url: str | None, secret: str | None, timeout: float, burst: int
) -> list[str]:
    """What is wrong with the options, each said as the option's user would fix it."""
    problems = [_url_problem("--url", url), _placeholder_problem(url)]
    if connect_url is not None:
        problems.append(_url_problem("--connect-url", connect_url))
    if secret is not None and (problem := secret_problem(secret)) is not None:
        problems.append(f"--secret {problem}")
    if not (isinstance(timeout, (int, float)) and math.isfinite(timeout)
            and 0 < timeout <= MAX_TIMEOUT):
        problems.append(f"--timeout must be a number of seconds more than 0 and at most "
                        f"{MAX_TIMEOUT:g}")
    if not 1 <= burst <= MAX_BURST:
        problems.append(f"--burst must be from 1 to {MAX_BURST}")
    return [p for p in problems if p is not None]


def check_handler(
    url: str,
    *,
    events: Sequence[str] | None = None,
    secret: str | None = None,
    connect_url: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    burst: int = DEFAULT_BURST,
    client: httpx.Client | None = None,
    on_line: Callable[[str], None] | None = None,
) -> Report:
    """Checks the webhook handler at `url` as the provider would test it; returns the report.

    `url` receives every POSTed event (`{event}` in it is replaced by the event's name, for a
    handler with one path per event). `events` limits the events (default: every POSTed one).
    `secret` (`whsec_...`, as the mock's `signing_secret`) signs every delivery and checks that
    forged ones are refused. `connect_url` is a Connect applet URL to check. `timeout` is the
    deadline of one exchange as a whole (connect, send, the whole answer), more than 0 and at
    most 300 s (the applet's is 5 s, or `timeout` when shorter). `burst` (1 to 1000) deliveries
    are sent by up to 16 concurrent senders.
    `client` sends the requests (e.g. a Starlette `TestClient` for an app in the same process;
    its own timeouts apply). `on_line` is given each line of the report as soon as it is known.
    Raises HandlerCheckError when the run cannot start.
    """
    said = _option_problems(url, connect_url, secret, timeout, burst)
    if said:
        # One line on the terminal, whatever the options held.
        raise HandlerCheckError(printable("; ".join(said)))
    chosen = _events(events)

    def emit(line: str) -> None:
        if on_line is not None:
            on_line(line)

    own = client is None
    http = client or own_client()
    if own:
        _reachable(http, url.replace("{event}", chosen[0]), min(timeout, 5.0))
    connect_deadline = min(CONNECT_TIMEOUT_SECONDS, timeout)
    title = f"checking {url}: a 2xx within {timeout:g} s for each delivery"
    if connect_url is not None:
        title += f"; {connect_url}: valid JSON within {connect_deadline:g} s"
    report = Report(title)
    if secret is None:
        report.notes.append("signatures were not checked: no --secret given")
    started = time.perf_counter()
    try:
        context = Context(
            sender=Sender(http, url, secret, timeout, own_client=own),
            events=chosen,
            connect_url=connect_url,
            connect_deadline=connect_deadline,
            burst=burst,
        )
        for line in report.lines()[:-1]:  # the title and the notes
            emit(line)
        for run in CHECKS:
            for result in run(context):
                report.results.append(result)
                for line in result.lines():
                    emit(line)
    finally:
        if own:
            http.close()
    report.elapsed = time.perf_counter() - started
    emit(report.summary())
    return report
