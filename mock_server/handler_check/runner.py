"""`check_handler`: every check against one handler, as `exomock check-handler` runs them."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import httpx

from ..callbacks.connect_fetch import CONNECT_TIMEOUT_SECONDS
from .cases import POSTED_EVENTS
from .checks import CHECKS, Context
from .delivery import Sender, secret_problem
from .report import Report

__all__ = ["DEFAULT_BURST", "DEFAULT_TIMEOUT", "HandlerCheckError", "check_handler"]

# The mock's own deadline for one delivery (`callbacks.timeout_seconds`).
DEFAULT_TIMEOUT = 15.0
DEFAULT_BURST = 20


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


def _events(events: Sequence[str] | None) -> tuple[str, ...]:
    if events is None:
        return POSTED_EVENTS
    if isinstance(events, str):  # "a,b" as on the command line
        events = [e.strip() for e in events.split(",") if e.strip()]
    unknown = [e for e in events if e not in POSTED_EVENTS]
    if unknown:
        connect = [e for e in unknown if e.startswith("connect_applet_")]
        hint = " (the Connect applet is checked with --connect-url)" if connect else ""
        raise HandlerCheckError(
            f"unknown event {unknown[0]!r}{hint}; the POSTed events are: "
            + ", ".join(POSTED_EVENTS)
        )
    if not events:
        raise HandlerCheckError("give at least one event")
    return tuple(dict.fromkeys(events))


def _reachable(http: httpx.Client, url: str, timeout: float) -> None:
    """One HEAD request, so that a handler nobody listens for is said once, not by every
    check (any answer will do)."""
    try:
        http.head(url, timeout=timeout)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        http.close()
        raise HandlerCheckError(f"cannot connect to {url}: {str(exc)[:200]}") from None
    except httpx.HTTPError:
        pass  # it answered something, or was slow to: the checks will say


def _option_problems(
    url: str, connect_url: str | None, secret: str | None, timeout: float, burst: int
) -> list[str]:
    """What is wrong with the options, each said as the option's user would fix it."""
    problems = [_url_problem("--url", url)]
    if connect_url is not None:
        problems.append(_url_problem("--connect-url", connect_url))
    if secret is not None and (problem := secret_problem(secret)) is not None:
        problems.append(f"--secret {problem}")
    if timeout <= 0:
        problems.append("--timeout must be more than 0 seconds")
    if burst < 1:
        problems.append("--burst must be 1 or more")
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
    deadline of one delivery in seconds (the applet's is 5 s, or `timeout` when shorter).
    `client` sends the requests (e.g. a Starlette `TestClient` for an app in the same process;
    its own timeouts apply). `on_line` is given each line of the report as soon as it is known.
    Raises HandlerCheckError when the run cannot start.
    """
    said = _option_problems(url, connect_url, secret, timeout, burst)
    if said:
        raise HandlerCheckError("; ".join(said))
    chosen = _events(events)

    def emit(line: str) -> None:
        if on_line is not None:
            on_line(line)

    own = client is None
    http = client or httpx.Client(follow_redirects=False)
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
