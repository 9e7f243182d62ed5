"""The one way the suite talks to the server under test: a requests session that waits out the
weather (throttling, unavailability, dropped connections) instead of judging it.

- `429` and `503` are never handed to a test: they are waited out per `Retry-After` (seconds or
  an HTTP date), with exponential backoff when it is absent, within a per-request wait budget.
- Connection errors and timeouts are retried when the request is safe to repeat (a method whose
  repetition changes nothing, or a connection that never opened); a POST or DELETE whose answer
  was lost is looked up before it is sent again (`reconcile.py`).
- When patience runs out, `ServerUnavailable` is raised: a pytest skip with its own outcome, so
  that "the server was unavailable" is reported apart from a broken contract (`outcomes.py`).
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter
from schemathesis.transport.requests import REQUESTS_TRANSPORT, RequestsTransport
from urllib3.exceptions import NewConnectionError

UNAVAILABLE = "server unavailable"
THROTTLED = frozenset({429, 503})
# Methods whose repetition has the effect, and the answer, of one request. DELETE is idempotent
# too (RFC 9110, 9.2.2), but a second one is answered "already deleted": it is looked up first.
SAFE_TO_REPEAT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "QUERY"})


class ServerUnavailable(pytest.skip.Exception):  # type: ignore[name-defined,misc]
    """The server could not be judged: every attempt was throttled, unavailable or unanswered.

    A skip (a BaseException) so that it passes through schemathesis' checks and hypothesis'
    shrinking untouched; `outcomes.py` reports it as its own outcome."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"{UNAVAILABLE}: {reason}", pytrace=False)


@contextmanager
def unavailable_first() -> Iterator[None]:
    """Raises the `ServerUnavailable` behind an error raised while it was handled (hypothesis'
    stateful runs report a skip in the middle of a sequence as inconsistent data generation)."""
    try:
        yield
    except BaseException as exc:
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, ServerUnavailable):
            cause = cause.__cause__ or cause.__context__
        if cause is None or cause is exc:
            raise
        raise cause from None


@dataclass(frozen=True)
class Patience:
    """How long the suite waits for a server before it says the server was unavailable."""

    timeout: float = 30.0  # seconds for one attempt to connect, and again to answer
    retries: int = 5  # attempts after the first, for one request
    max_wait: float = 180.0  # seconds one request may spend waiting between its attempts
    # Seconds the whole run may wait: a server that is down ends the run, as not judged, in
    # bounded time.
    wait_budget: float = 1800.0
    backoff: float = 1.0  # first wait without Retry-After; doubled each time

    def __post_init__(self) -> None:
        if self.timeout <= 0 or self.retries < 0 or self.max_wait < 0 or self.wait_budget < 0:
            raise ValueError("timeout must be positive; retries and waits not negative")


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds asked for by `Retry-After` (delay-seconds or an HTTP date), None when absent."""
    value = headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached the server (no connection was opened)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


Send = Callable[[requests.PreparedRequest], requests.Response]
APPLIED, ABSENT, REFUSED, UNIQUE = "applied", "absent", "refused", "unique"


@dataclass(frozen=True)
class Found:
    """What the server says of a request whose answer was lost: APPLIED (with the id it was
    given: not sent again), ABSENT or REFUSED (sent again), UNIQUE (sent again, as the contract
    refuses a duplicate; `verify` tells from the answer to the repeat whether the first was
    applied, giving the reason, or None when it was not)."""

    state: str
    ident: str | None = None
    verify: Callable[[requests.Response], str | None] | None = None


# Whether a request whose answer was lost was applied, asking the server with the given
# function; None when that cannot be told (see `reconcile.py`).
Lookup = Callable[[requests.PreparedRequest, Send], Found | None]


class PatientAdapter(HTTPAdapter):
    """The transport: mounted on every session of the run, so that all share one patience, one
    wait budget and one pool of connections."""

    def __init__(self, patience: Patience, lookup: Lookup | None = None) -> None:
        super().__init__(max_retries=0)
        self.patience = patience
        self.lookup = lookup
        self.wait_left = patience.wait_budget
        self.answered = False  # refusals are blips only once the server has answered
        self.lock = threading.Lock()

    def send(self, request: requests.PreparedRequest, stream: bool = False,
             timeout: Any = None, verify: Any = True, cert: Any = None,
             proxies: Any = None) -> requests.Response:
        method = (request.method or "GET").upper()
        waited, delay = 0.0, self.patience.backoff
        repeat_shows: Callable[[requests.Response], str | None] | None = None
        for attempt in range(self.patience.retries + 1):
            try:
                response = super().send(request, stream=stream, timeout=self.patience.timeout,
                                        verify=verify, cert=cert, proxies=proxies)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if not self.answered and _never_sent(exc):
                    raise  # never reached at all: the caller says so at once (exit 4)
                reason = f"{type(exc).__name__}: {str(exc)[:160]}"
                wait = delay if attempt else 0.0  # a dropped connection is tried again at once
                if method not in SAFE_TO_REPEAT and not _never_sent(exc):
                    repeat_shows = self._reconcile(request, reason) or repeat_shows
            else:
                self.answered = True
                if response.status_code not in THROTTLED:
                    applied = repeat_shows(response) if repeat_shows is not None else None
                    if applied is not None:
                        response.close()
                        raise ServerUnavailable(
                            f"{method} {request.path_url.split('?')[0]}: an answer was lost, "
                            f"and the server had applied the request ({applied})")
                    return response
                reason = f"answered {response.status_code}"
                asked = retry_after(response.headers)
                wait = delay if asked is None else asked
                _ = response.content  # read, so that the connection is used again
                response.close()
            last = attempt == self.patience.retries
            if last or waited + wait > self.patience.max_wait or not self._spend_wait(wait):
                raise ServerUnavailable(
                    f"{method} {request.path_url.split('?')[0]}: {reason} after "
                    f"{attempt + 1} attempt(s) and {waited:.0f} s of waiting"
                )
            time.sleep(wait)
            waited += wait
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _spend_wait(self, seconds: float) -> bool:
        with self.lock:
            if seconds > self.wait_left:
                return False
            self.wait_left -= seconds
            return True

    def _reconcile(self, request: requests.PreparedRequest,
                   reason: str) -> Callable[[requests.Response], str | None] | None:
        """Returns when the lost request may be sent again (with what tells from the answer to
        the repeat that the first was applied, if anything does); raises when it must not be."""
        where = f"{request.method} {request.path_url.split('?')[0]}"
        found = self.lookup(request, self.send) if self.lookup is not None else None
        if found is None:
            raise ServerUnavailable(f"{where}: {reason}; not sent again, as it cannot be told "
                                    "whether the server applied it")
        if found.state == APPLIED:
            raise ServerUnavailable(f"{where}: the answer was lost ({reason}), and the server "
                                    f"applied the request ({found.ident})")
        return found.verify


def patient_session(adapter: PatientAdapter,
                    on_response: Callable[[str, str, requests.Response], None] | None = None,
                    before_request: Callable[[], None] | None = None) -> requests.Session:
    """A session whose every request goes through `adapter`; no cookies are kept, so that no
    request carries another's state (credentials travel with each request)."""
    session = requests.Session()
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    original = session.request

    def request(method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        if before_request is not None:
            before_request()
        response = original(method, url, *args, **kwargs)
        if on_response is not None:
            on_response(method.upper(), url, response)
        return response

    session.request = request  # type: ignore[method-assign,assignment]
    return session


class SessionTransport(RequestsTransport):
    """Schemathesis' transport, made to send through one session: its follow-up probes (without
    or with wrong credentials, undeclared methods) drop the caller's session and would otherwise
    open a fresh one that knows nothing of 429."""

    def __init__(self) -> None:
        super().__init__()
        # The serializers schemathesis registers on its own transport (JSON, forms, ...).
        self._serializers = REQUESTS_TRANSPORT._serializers
        self.session: requests.Session | None = None

    def send(self, case: Any, *, session: requests.Session | None = None,
             **kwargs: Any) -> Any:
        return super().send(case, session=session or self.session, **kwargs)


SESSION_TRANSPORT = SessionTransport()


def send_probes_through(schema: Any) -> Any:
    """`schema` (and what it is filtered into) with `SESSION_TRANSPORT` as its transport."""

    class ThroughSession(type(schema)):  # type: ignore[misc]
        @property
        def transport(self) -> SessionTransport:
            return SESSION_TRANSPORT

    schema.__class__ = ThroughSession
    return schema
