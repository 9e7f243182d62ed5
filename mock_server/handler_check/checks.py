"""The checks, each a small function registered by `@check` that yields its results.

A check sends what the provider sends (or, for signatures, what a forger would) and judges the
answer as the provider does: a callback is delivered when it is answered with a 2xx within the
deadline; anything else is sent again, so a handler that fails one fails in production too.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache

import httpx
import jsonschema_rs

# The mock's own reading of an applet's answer, so that both name a violation the same way.
from ..callbacks.connect_fetch import (
    CONNECT_RESPONSE,
    MAX_CONNECT_ANSWER_BYTES,
    _answer,
)
from ..fakes import fake, fake_many
from ..spec import OPENAPI_DIR
from .cases import UNKNOWN_MEMBER, cases, out_of_order, with_unknown_member
from .delivery import Exchange, Sender, body_of, new_secret
from .report import CheckResult, Outcome

__all__ = ["BURST_SENDERS", "CHECKS", "Context", "check"]

# Standard Webhooks receivers refuse timestamps more than 5 minutes away; this is well past it.
STALE_SECONDS = 15 * 60
DUPLICATE_SEED = 21
# The burst's deliveries are sent by this many threads at most, each waiting for its answer.
BURST_SENDERS = 16
# Seeds of connect_applet_request fakes: two first requests and one after a dial attempt.
_CONNECT_SEEDS = (1, 2, 4)


@dataclass
class Context:
    sender: Sender
    events: tuple[str, ...]
    connect_url: str | None
    connect_deadline: float
    burst: int


Check = Callable[[Context], Iterator[CheckResult]]
CHECKS: list[Check] = []


def check(function: Check) -> Check:
    """Registers a check; they run in the order they are defined."""
    CHECKS.append(function)
    return function


def _size(exchange: Exchange) -> str:
    return f"POST {len(exchange.body):,} B"


def _delivered(group: str, name: str, sender: Sender, exchanges: list[Exchange],
               sent: str | None = None) -> CheckResult:
    """Passes when every exchange was delivered; otherwise names the first that was not."""
    result = CheckResult(
        group, name, sent or _size(exchanges[0]), ", ".join(e.outcome() for e in exchanges),
        sum(e.elapsed for e in exchanges),
    )
    for index, exchange in enumerate(exchanges):
        problem = sender.accepted(exchange)
        if problem is not None:
            which = f"request {index + 1} of {len(exchanges)}: " if len(exchanges) > 1 else ""
            result.outcome, result.problem = Outcome.FAILED, which + problem
            result.replay = exchanges[: index + 1]
            break
    return result


@check
def payloads(ctx: Context) -> Iterator[CheckResult]:
    """Every outcome the schemas allow, each answered with a 2xx in time."""
    for event in ctx.events:
        for case in cases(event):
            exchange = ctx.sender.post(event, case.payload)
            yield _delivered("payload", f"{event}: {case.title}", ctx.sender, [exchange])


@check
def duplicates(ctx: Context) -> Iterator[CheckResult]:
    """The same delivery twice, as after an answer that came too late: both 2xx."""
    for event in ctx.events:
        # A payload no other check sends, so the second is the first duplicate the handler sees.
        first = ctx.sender.post(event, fake(event, seed=DUPLICATE_SEED))
        again = ctx.sender.send(Exchange("POST", first.url, first.headers, first.body))
        yield _delivered("delivery", f"{event}: the same delivery twice", ctx.sender,
                         [first, again], sent=f"{_size(first)} twice")


@check
def unknown_members(ctx: Context) -> Iterator[CheckResult]:
    """A member the schema does not know (the provider may add one at any time): 2xx."""
    for event in ctx.events:
        exchange = ctx.sender.post(event, with_unknown_member(event))
        yield _delivered("delivery", f"{event}: one unknown member ({UNKNOWN_MEMBER})",
                         ctx.sender, [exchange])


@check
def reordered(ctx: Context) -> Iterator[CheckResult]:
    """One call's callbacks in the reverse of their order (retries reorder them): all 2xx."""
    sequence = out_of_order(ctx.events)
    name = "one call's callbacks out of order"
    if sequence is None:
        yield CheckResult("delivery", name, "not sent", "", 0.0, Outcome.SKIPPED,
                          "needs two events of one call among --events")
        return
    exchanges = [ctx.sender.post(case.event, case.payload) for case in sequence]
    order = ", ".join(case.title for case in sequence)
    yield _delivered("delivery", name, ctx.sender, exchanges,
                     sent=f"{len(exchanges)} POSTs ({order})")


@check
def burst(ctx: Context) -> Iterator[CheckResult]:
    """Many deliveries together (a busy hour, or retries coming due together), sent by up to
    BURST_SENDERS concurrent senders: all 2xx."""
    payloads = [
        (event, payload)
        for index, event in enumerate(ctx.events)
        for payload in fake_many(event, _share(ctx.burst, len(ctx.events), index), seed=100)
    ]
    started = time.perf_counter()
    senders = max(1, min(len(payloads), BURST_SENDERS))
    with ThreadPoolExecutor(max_workers=senders) as pool:
        exchanges = list(pool.map(lambda item: ctx.sender.post(*item), payloads))
    elapsed = time.perf_counter() - started
    outcomes = Counter(e.outcome() for e in exchanges)
    got = ", ".join(f"{outcome} for {count} of {len(exchanges)}"
                    for outcome, count in outcomes.most_common())
    result = CheckResult("delivery", f"a burst of {len(exchanges)}, {senders} at a time",
                         f"{len(exchanges)} POSTs of {len({e for e, _ in payloads})} "
                         f"event(s) by {senders} concurrent sender(s)",
                         got, elapsed)
    refused = [(e, p) for e in exchanges if (p := ctx.sender.accepted(e)) is not None]
    if refused:
        exchange, problem = refused[0]
        result.outcome = Outcome.FAILED
        result.problem = f"{len(refused)} of {len(exchanges)} not delivered; the first: {problem}"
        result.replay = [exchange]
    yield result


def _share(total: int, parts: int, index: int) -> int:
    return total // parts + (1 if index < total % parts else 0)


@check
def signatures(ctx: Context) -> Iterator[CheckResult]:
    """Signed deliveries accepted; forged, tampered, stale and unsigned ones refused (4xx)."""
    sender = ctx.sender
    if sender.secret is None:
        yield CheckResult("signature", "signatures", "not checked", "", 0.0, Outcome.SKIPPED,
                          "no --secret given: the deliveries were unsigned and nothing was "
                          "forged; give the handler's secret to check that it verifies them")
        return
    event = ctx.events[0]
    payload = cases(event)[0].payload
    body = body_of(payload)
    signed = sender.post(event, payload)
    yield _delivered("signature", f"{event}: correctly signed", sender, [signed])

    tampered = body_of({**payload, _first_string_member(payload): "tampered"})
    forgeries = [
        ("body changed after signing", tampered, sender.headers(tampered, signed_body=body),
         "a body changed after signing: verify webhook-signature over the body as received"),
        ("signed with another secret", body, sender.headers(body, secret=new_secret()),
         "a signature made with another secret: compare webhook-signature with the HMAC-SHA256 "
         "of webhook-id.webhook-timestamp.body under your secret"),
        (f"timestamp {STALE_SECONDS // 60} minutes old", body,
         sender.headers(body, timestamp=int(time.time()) - STALE_SECONDS),
         f"a timestamp {STALE_SECONDS // 60} minutes old: refuse webhook-timestamp more than "
         "5 minutes from now, or a recorded delivery can be replayed"),
        ("no signature headers", body, {k: v for k, v in sender.headers(body).items()
                                        if not k.startswith("webhook-")},
         "a delivery without a signature"),
    ]
    for title, content, headers, forged in forgeries:
        exchange = sender.post(event, headers=headers, body=content)
        result = CheckResult("signature", f"{event}: {title}", _size(exchange),
                             exchange.outcome(), exchange.elapsed)
        problem = _refusal_problem(exchange, forged)
        if problem is not None:
            result.outcome, result.problem, result.replay = Outcome.FAILED, problem, [exchange]
        yield result


def _first_string_member(payload: dict[str, object]) -> str:
    return next((k for k, v in payload.items() if isinstance(v, str)), "tampered")


def _refusal_problem(exchange: Exchange, forged: str) -> str | None:
    if exchange.status is not None and 400 <= exchange.status < 500:
        return None
    if exchange.status is None:
        return f"a 4xx refusal was expected; {exchange.error}"
    if exchange.status < 300:
        return f"the handler accepted {forged} (a 4xx refusal was expected)"
    return (f"a 4xx refusal was expected, the handler answered {exchange.outcome()} "
            "(a 5xx makes the provider send it again)")


@cache
def _connect_validator() -> jsonschema_rs.Validator:
    path = OPENAPI_DIR / "callbacks" / f"{CONNECT_RESPONSE}.schema.json"
    return jsonschema_rs.Draft202012Validator(json.loads(path.read_text(encoding="utf-8")))


def _fetch_connect(ctx: Context, query: dict[str, str]) -> tuple[Exchange, bytes]:
    """GETs the applet URL as the provider does: the whole answer within the deadline, read up
    to the mock's own limit."""
    assert ctx.connect_url is not None
    url = str(httpx.URL(ctx.connect_url).copy_merge_params(query))
    headers = {"accept": "application/json", "accept-encoding": "identity",
               "user-agent": "exomock-check-handler"}
    exchange, answer = ctx.sender.fetch(Exchange("GET", url, headers), ctx.connect_deadline,
                                        MAX_CONNECT_ANSWER_BYTES)
    if exchange.error is None and answer.encoding not in ("", "identity"):
        exchange.error = f"the answer is compressed ({answer.encoding[:40]}); it must not be"
    elif exchange.error is None and answer.cut:
        exchange.error = f"the answer is over {MAX_CONNECT_ANSWER_BYTES} bytes"
    return exchange, answer.content


@check
def connect_applet(ctx: Context) -> Iterator[CheckResult]:
    """The applet URL answers each caller with valid `connect_applet_response` JSON in time."""
    if ctx.connect_url is None:
        yield CheckResult("connect", "Connect applet", "not checked", "", 0.0, Outcome.SKIPPED,
                          "no --connect-url given")
        return
    for number, seed in enumerate(_CONNECT_SEEDS, start=1):
        query = fake("connect_applet_request", seed=seed)
        exchange, content = _fetch_connect(ctx, query)
        after = f", after dialling {query['DialWhomNumber']}" if query["DialWhomNumber"] else ""
        name = f"caller {number} ({query['From']}{after})"
        result = CheckResult("connect", name, f"GET with {len(query)} query parameters",
                             exchange.outcome(), exchange.elapsed)
        errors: list[str] = []
        if exchange.error is not None:
            errors = [exchange.error]
        elif exchange.elapsed > ctx.connect_deadline:
            errors = [f"answered after {exchange.elapsed:.2f} s, over the applet's "
                      f"{ctx.connect_deadline:g} s deadline"]
        else:
            assert exchange.status is not None
            answer, errors = _answer(_connect_validator(), exchange.status, content)
            if answer is not None:
                result.got = f"{exchange.status}, {len(answer['destination'])} destination(s)"
        if errors:
            if exchange.error is None:
                result.got = f"{exchange.status}, not a usable answer"
            result.outcome, result.replay = Outcome.FAILED, [exchange]
            result.problem = "; ".join(errors)
        yield result
