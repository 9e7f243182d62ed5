"""The one way out for callbacks: validate against the event's schema, deliver, retry, log.

A callback is prepared (checked, made a log entry) inside the unit of work that causes it and
sent only once that unit is committed (`dispatch`). Delivery runs in background tasks, so the API
answer that caused a callback never waits for the receiver. The defaults follow the provider's
documented behaviour (answer within a few seconds, two retries); they are configuration
(`callbacks:` in the YAML).

The one request the mock makes and waits for is the programmable Connect applet's GET
(`fetch_connect`): an incoming call cannot go on without its answer. It is checked against the
`connect_applet_request` schema before it leaves, its answer against `connect_applet_response`,
and it is logged with the callbacks (event `connect_applet_request`, one attempt, no retry) in
the unit of work of the call it was made for.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import jsonschema_rs

from ..clock import IST, Clock
from ..domain.deliveries import DELIVERED, FAILED, NOT_SENT, PENDING, Attempt, Delivery
from ..ids import IdSource
from ..settings import CallbackSettings, Settings
from ..store.deliveries import DeliveryLog

CONNECT_REQUEST = "connect_applet_request"
CONNECT_RESPONSE = "connect_applet_response"
# The longest the Connect applet waits for its URL (or the callbacks' timeout, when shorter).
CONNECT_TIMEOUT_SECONDS = 5.0
MAX_CONNECT_ANSWER_BYTES = 1048576
# At most this many problems of one answer are reported, each at most MESSAGE_LIMIT characters.
MAX_ANSWER_ERRORS = 10
MESSAGE_LIMIT = 300


class CallbackSchemaViolation(RuntimeError):
    """The mock built a callback its own schema refuses: a defect of the mock, never sent."""


@dataclass
class ConnectFetch:
    """What a Connect applet URL answered: the answer when it is usable, else what is wrong."""

    status_code: int | None
    answer: dict[str, Any] | None
    errors: list[str]
    delivery: Delivery


def _short(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value of Standard Webhooks: `v1,` + base64 HMAC-SHA256."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class CallbackDispatcher:
    def __init__(
        self,
        settings: Settings,
        schemas: dict[str, dict[str, Any]],
        clock: Clock,
        ids: IdSource,
        log: DeliveryLog | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.options: CallbackSettings = settings.callbacks
        self.clock = clock
        self.ids = ids
        self.log = log if log is not None else DeliveryLog()
        self._validators = {
            event: jsonschema_rs.Draft202012Validator(schema, validate_formats=False)
            for event, schema in schemas.items()
        }
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # The last delivery under way of each sequence, which the next one waits for.
        self._sequences: dict[str, asyncio.Task[None]] = {}
        self._waiting: list[Delivery] = []
        self._chaos = random.Random(0)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            timeout=self.options.timeout_seconds, transport=self._transport
        )
        waiting, self._waiting = self._waiting, []
        # What was emitted before the start, and what a previous run left undelivered.
        resumed = {d.id: d for d in [*self.log.undelivered(), *waiting]}
        for delivery in resumed.values():
            self._schedule(delivery)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def drain(self, timeout: float = 30.0) -> None:
        """Waits until every delivery under way has ended (for tests and shutdown)."""
        deadline = time.monotonic() + timeout
        while self._tasks and time.monotonic() < deadline:
            await asyncio.wait(set(self._tasks), timeout=deadline - time.monotonic())

    # -- emitting -------------------------------------------------------------------------------

    def check(self, event: str, payload: dict[str, Any]) -> None:
        validator = self._validators.get(event)
        if validator is None:
            raise CallbackSchemaViolation(f"no schema for callback event {event!r}")
        errors = list(validator.iter_errors(payload))
        if errors:
            details = "; ".join(
                f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in errors[:5]
            )
            raise CallbackSchemaViolation(f"{event} payload breaks its schema: {details}")

    def prepare(
        self,
        tenant_id: str,
        event: str,
        payload: dict[str, Any],
        url: str | None,
        sequence: str | None = None,
    ) -> list[Delivery]:
        """The log entries of one callback (two when chaos duplicates it): checked against the
        event's schema, `not_sent` without a URL. Nothing is logged or sent yet.

        Callbacks of one `sequence` (a call's, say) are delivered in the order dispatched: each
        starts once the one before it has ended, delivered or failed. Others do not wait.
        """
        self.check(event, payload)
        delivery = Delivery(
            id=self.ids.uuid(),
            tenant_id=tenant_id,
            event=event,
            url=url,
            payload=payload,
            created_at=self._now(),
            sequence=sequence,
            outcome=PENDING if url is not None else NOT_SENT,
        )
        prepared = [delivery]
        chaos = self.options.chaos
        if (
            url is not None
            and chaos.duplicate_probability
            and self._chaos.random() < chaos.duplicate_probability
        ):
            prepared.append(self.redelivery(delivery, url))
        return prepared

    def redelivery(self, original: Delivery, url: str | None = None) -> Delivery:
        """A new log entry sending a logged callback again (to `url`, or where it went)."""
        target = url or original.url
        return Delivery(
            id=self.ids.uuid(),
            tenant_id=original.tenant_id,
            event=original.event,
            url=target,
            payload=original.payload,
            created_at=self._now(),
            redelivery_of=original.id,
            outcome=PENDING if target is not None else NOT_SENT,
        )

    def dispatch(self, deliveries: Sequence[Delivery]) -> None:
        """Sends the pending ones of these logged deliveries (their unit is committed)."""
        for delivery in deliveries:
            if delivery.outcome == PENDING and delivery.url is not None:
                self._schedule(delivery)

    # -- the Connect applet's request ----------------------------------------------------------

    async def fetch_connect(
        self, tenant_id: str, url: str, query: dict[str, str]
    ) -> ConnectFetch:
        """GETs a Connect applet URL with `query` and checks its answer.

        The answer is usable when it is a 2xx whose body is JSON valid against
        `connect_applet_response`; otherwise `errors` says why (a schema violation names the
        member, as `destination/0/contact_uri: ...`). A timeout or a connection error is an
        error too. Never retried: the caller is waiting on the line.
        """
        self.check(CONNECT_REQUEST, query)
        if self._client is None:
            raise RuntimeError("the callback dispatcher is not started")
        timeout = min(self.options.timeout_seconds, CONNECT_TIMEOUT_SECONDS)
        attempt = Attempt(number=1, at=self._now())
        delivery = Delivery(
            id=self.ids.uuid(),
            tenant_id=tenant_id,
            event=CONNECT_REQUEST,
            url=url,
            payload=dict(query),
            created_at=attempt.at,
            attempts=[attempt],
        )
        headers = {
            "accept": "application/json",
            "user-agent": "exomock-connect",
            "x-exomock-event": CONNECT_REQUEST,
            "x-exomock-delivery": delivery.id,
        }
        answer: dict[str, Any] | None = None
        started = time.perf_counter()
        try:
            # The URL's own query parameters stay; the applet's are added after them.
            target = httpx.URL(url).copy_merge_params(query)
            response = await self._client.get(target, headers=headers, timeout=timeout)
        except httpx.TimeoutException as exc:
            errors = [f"the URL did not answer within {timeout:g} s ({type(exc).__name__})"]
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            errors = [_short(f"the URL could not be reached ({detail})")]
        else:
            attempt.status_code = response.status_code
            answer, errors = self._connect_answer(response)
        attempt.elapsed_ms = (time.perf_counter() - started) * 1000
        attempt.error = _short("; ".join(errors)) if errors else None
        delivery.outcome = FAILED if errors else DELIVERED
        # Logged with the call it was made for, in that call's unit of work.
        return ConnectFetch(attempt.status_code, answer, errors, delivery)

    def _connect_answer(self, response: httpx.Response) -> tuple[dict[str, Any] | None, list[str]]:
        if not 200 <= response.status_code < 300:
            return None, [
                f"the URL answered HTTP {response.status_code}; a 2xx answer with the JSON of "
                "connect_applet_response is expected"
            ]
        if len(response.content) > MAX_CONNECT_ANSWER_BYTES:
            return None, [f"the answer is over {MAX_CONNECT_ANSWER_BYTES} bytes"]
        try:
            answer = json.loads(response.content)
        except (ValueError, RecursionError) as exc:
            return None, [_short(f"the answer is not valid JSON: {exc}")]
        problems = list(self._validators[CONNECT_RESPONSE].iter_errors(answer))
        if problems:
            return None, [
                _short(f"{'/'.join(map(str, e.instance_path)) or '(top)'}: {e.message}")
                for e in problems[:MAX_ANSWER_ERRORS]
            ]
        assert isinstance(answer, dict)
        return answer, []

    # -- delivering -----------------------------------------------------------------------------

    def _schedule(self, delivery: Delivery) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._waiting.append(delivery)
            return
        if self._client is None:
            self._waiting.append(delivery)
            return
        previous = self._sequences.get(delivery.sequence) if delivery.sequence else None
        task = loop.create_task(self._deliver(delivery, after=previous))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if delivery.sequence:
            sequence = delivery.sequence
            self._sequences[sequence] = task
            task.add_done_callback(
                lambda done: self._sequences.pop(sequence, None)
                if self._sequences.get(sequence) is done
                else None
            )

    async def _deliver(
        self, delivery: Delivery, after: asyncio.Task[None] | None = None
    ) -> None:
        assert self._client is not None
        assert delivery.url is not None
        chaos = self.options.chaos
        if after is not None and not chaos.reorder:
            await asyncio.wait({after})
        if chaos.max_delay_seconds or chaos.reorder:
            # Random delays make later callbacks overtake earlier ones.
            await asyncio.sleep(self._chaos.uniform(0, chaos.max_delay_seconds or 0.5))
        body = json.dumps(delivery.payload, separators=(",", ":")).encode()
        delays = (0.0, *self.options.retry_delays_seconds)
        # A delivery resumed after a restart goes on numbering its attempts.
        first = len(delivery.attempts) + 1
        for number, delay in enumerate(delays, start=first):
            if delay:
                await asyncio.sleep(delay)
            attempt = Attempt(number=number, at=self._now())
            delivery.attempts.append(attempt)
            started = time.perf_counter()
            try:
                response = await self._client.post(
                    delivery.url, content=body, headers=self._headers(delivery, body)
                )
            except httpx.HTTPError as exc:
                attempt.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                attempt.elapsed_ms = (time.perf_counter() - started) * 1000
                self.log.update(delivery)
                continue
            attempt.elapsed_ms = (time.perf_counter() - started) * 1000
            attempt.status_code = response.status_code
            if 200 <= response.status_code < 300:
                delivery.outcome = DELIVERED
                self.log.update(delivery)
                return
            self.log.update(delivery)
            if response.status_code < 500:
                # The receiver refused this payload; sending it again would not change that.
                break
        delivery.outcome = FAILED
        self.log.update(delivery)

    def _headers(self, delivery: Delivery, body: bytes) -> dict[str, str]:
        headers = {
            "content-type": "application/json",
            "user-agent": "exomock-callbacks",
            "x-exomock-event": delivery.event,
            "x-exomock-delivery": delivery.id,
        }
        secret = self.options.signing_secret
        if secret:
            timestamp = int(self.clock.now())
            # Duplicates and redeliveries carry the original's id, as Standard Webhooks retries do.
            message_id = delivery.redelivery_of or delivery.id
            headers["webhook-id"] = message_id
            headers["webhook-timestamp"] = str(timestamp)
            headers["webhook-signature"] = sign(secret, message_id, timestamp, body)
        return headers

    def _now(self) -> str:
        return datetime.fromtimestamp(self.clock.now(), IST).isoformat(timespec="milliseconds")
