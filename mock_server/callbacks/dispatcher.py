"""The one way out for callbacks: validate against the event's schema, deliver, retry, log.

A callback is prepared (checked, made a log entry) inside the unit of work that causes it and
sent only once that unit is committed (`dispatch`), through the outbox (`outbox.py`): a bounded
set of workers, fair between destinations, so the API answer that caused a callback never waits
for the receiver. Each attempt is bounded as a whole (connect, send, answer), and the answer is
read as a stream up to a limit. The defaults follow the provider's documented behaviour (answer
within a few seconds, two retries); they are configuration (`callbacks:` in the YAML).

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
from datetime import datetime
from typing import Any

import httpx
import jsonschema_rs

from ..clock import IST, Clock
from ..domain.deliveries import DELIVERED, FAILED, NOT_SENT, PENDING, Attempt, Delivery
from ..ids import IdSource
from ..settings import CallbackSettings, Settings
from ..store.deliveries import DeliveryLog
from .connect_fetch import (
    CONNECT_REQUEST,
    CONNECT_RESPONSE,
    CONNECT_TIMEOUT_SECONDS,
    ConnectFetch,
    fetch,
    short,
)
from .outbox import DONE, RETRY, Outbox
from .urls import destination, url_problem


class CallbackSchemaViolation(RuntimeError):
    """The mock built a callback its own schema refuses: a defect of the mock, never sent."""


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
        self.log = log if log is not None else DeliveryLog(self.options.retention)
        self._validators = {
            event: jsonschema_rs.Draft202012Validator(schema, validate_formats=False)
            for event, schema in schemas.items()
        }
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._connect_client: httpx.AsyncClient | None = None
        self._resuming: asyncio.Task[None] | None = None
        self._outbox: Outbox | None = None
        # Dispatched before the start: sent once it has started.
        self._early: list[Delivery] = []
        self._chaos = random.Random(0)
        self._jitter = random.Random()

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Starts the workers and takes up what a previous run left pending; sends nothing
        before the caller goes on (the server listens first)."""
        options = self.options
        self._client = httpx.AsyncClient(
            transport=self._transport,
            # Workers never wait for a connection: there is one for each.
            limits=httpx.Limits(
                max_connections=options.workers, max_keepalive_connections=options.workers
            ),
            timeout=httpx.Timeout(options.timeout_seconds),
        )
        # The Connect applet's requests have connections of their own: a caller waiting on a
        # slow applet never holds up the callbacks, nor the other way round.
        self._connect_client = httpx.AsyncClient(
            transport=self._transport, timeout=httpx.Timeout(CONNECT_TIMEOUT_SECONDS)
        )
        self._outbox = Outbox(
            self._attempt,
            workers=options.workers,
            per_host=options.per_host,
            retry_delay=self._retry_delay,
            destination=lambda d: destination(d.url or ""),
            on_defect=self._failed_in_the_mock,
        )
        self._outbox.start()
        early, self._early = self._early, []
        resumed = {d.id: d for d in [*self.log.undelivered(), *early]}
        self._resuming = asyncio.create_task(self._resume(list(resumed.values())))

    async def _resume(self, deliveries: list[Delivery]) -> None:
        """Queues what a previous run left pending, a few hundred at a time, so that the server
        answers while thousands are taken up."""
        for start in range(0, len(deliveries), 500):
            self.dispatch(deliveries[start : start + 500])
            await asyncio.sleep(0)

    async def stop(self) -> None:
        if self._resuming is not None:
            self._resuming.cancel()
            await asyncio.gather(self._resuming, return_exceptions=True)
            self._resuming = None
        if self._connect_client is not None:
            await self._connect_client.aclose()
            self._connect_client = None
        if self._outbox is not None:
            await self._outbox.stop()
            self._outbox = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def drain(self, timeout: float = 30.0) -> None:
        """Waits until every delivery under way has ended (for tests and shutdown)."""
        if self._resuming is not None:
            await asyncio.wait({self._resuming}, timeout=timeout)
        if self._outbox is not None:
            await self._outbox.drain(timeout)

    def summary(self) -> dict[str, int]:
        """The log's entries by outcome, and of the pending ones how many are being sent."""
        counts = self.log.counts()
        outbox = self._outbox
        return {
            **counts,
            "in_flight": outbox.in_flight if outbox else 0,
            "queued": outbox.queued if outbox else counts["pending"],
            "retained": len(self.log),
            "retention": self.log.limit,
            "workers": self.options.workers,
            "per_host": self.options.per_host,
        }

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
        delivery = self._entry(tenant_id, event, url, payload, sequence=sequence)
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
        return self._entry(original.tenant_id, original.event, url or original.url,
                           original.payload, redelivery_of=original.id)

    def _entry(
        self,
        tenant_id: str,
        event: str,
        url: str | None,
        payload: dict[str, Any],
        *,
        sequence: str | None = None,
        redelivery_of: str | None = None,
    ) -> Delivery:
        """A new log entry, to be sent when it has a URL (`not_sent` when not)."""
        return Delivery(
            id=self.ids.uuid(),
            tenant_id=tenant_id,
            event=event,
            url=url,
            payload=payload,
            created_at=self._now(),
            outcome=PENDING if url is not None else NOT_SENT,
            redelivery_of=redelivery_of,
            sequence=sequence,
        )

    def forget(self, tenant_id: str | None) -> None:
        """Drops the queued deliveries of a tenant (or everyone's) that a reset forgot; those
        in flight end, unlogged."""
        if self._outbox is not None:
            self._outbox.forget(lambda d: tenant_id is None or d.tenant_id == tenant_id)
        self._early = [d for d in self._early if tenant_id not in (None, d.tenant_id)]

    def dispatch(self, deliveries: Sequence[Delivery]) -> None:
        """Sends the pending ones of these logged deliveries (their unit is committed)."""
        outbox = self._outbox
        for delivery in deliveries:
            if delivery.outcome != PENDING or delivery.url is None:
                continue
            if outbox is None:
                self._early.append(delivery)
                continue
            problem = url_problem(delivery.url, self.options.allowed_hosts)
            if problem is not None:
                # Nothing to retry: the URL will not become requestable.
                delivery.attempts.append(Attempt(number=len(delivery.attempts) + 1,
                                                 at=self._now(), error=problem))
                delivery.outcome = FAILED
                self.log.update(delivery)
                outbox.finished(delivery)
                continue
            chaos = self.options.chaos
            delay = (
                self._chaos.uniform(0, chaos.max_delay_seconds or 0.5)
                if chaos.max_delay_seconds or chaos.reorder
                else 0.0
            )
            # Reordering chaos lets later callbacks of a call overtake earlier ones.
            outbox.put(delivery, in_order=not chaos.reorder, delay=delay)

    # -- the Connect applet's request ----------------------------------------------------------

    async def fetch_connect(
        self, tenant_id: str, url: str, query: dict[str, str]
    ) -> ConnectFetch:
        """GETs a Connect applet URL with `query` and checks its answer (`connect_fetch.py`)."""
        if self._connect_client is None:
            raise RuntimeError("the callback dispatcher is not started")
        self.check(CONNECT_REQUEST, query)
        delivery = self._entry(tenant_id, CONNECT_REQUEST, url, dict(query))
        problem = url_problem(url, self.options.allowed_hosts)
        if problem is not None:
            # Never requested: the call fails at once, and says why.
            delivery.attempts.append(Attempt(number=1, at=delivery.created_at, error=problem))
            delivery.outcome = FAILED
            return ConnectFetch(None, None, [problem], delivery)
        return await fetch(
            self._connect_client,
            self._validators[CONNECT_RESPONSE],
            delivery,
            min(self.options.timeout_seconds, CONNECT_TIMEOUT_SECONDS),
        )

    # -- delivering -----------------------------------------------------------------------------

    def _failed_in_the_mock(self, delivery: Delivery) -> None:
        """Ends a delivery the mock could not send (a defect, logged): failed, never pending for
        ever."""
        delivery.outcome = FAILED
        if delivery.attempts and delivery.attempts[-1].error is None:
            delivery.attempts[-1].error = "the mock failed to send it (see its log)"
        self.log.update(delivery)

    def _retry_delay(self, delivery: Delivery) -> float | None:
        """The wait before the next attempt, with jitter; None when none is left (attempts
        count across restarts: a resumed delivery goes on where it was)."""
        made = len(delivery.attempts)
        delays = self.options.retry_delays_seconds
        if made > len(delays):
            return None
        jitter = self.options.jitter
        return float(delays[made - 1]) * self._jitter.uniform(1 - jitter, 1 + jitter)

    async def _attempt(self, delivery: Delivery) -> str:
        """One attempt, bounded as a whole by the timeout; DONE when the delivery has ended."""
        assert self._client is not None
        assert delivery.url is not None
        if not self.log.owns(delivery):
            return DONE  # another process of a shared mock took it over
        body = json.dumps(delivery.payload, separators=(",", ":")).encode()
        attempt = Attempt(number=len(delivery.attempts) + 1, at=self._now())
        delivery.attempts.append(attempt)
        timeout = self.options.timeout_seconds
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                attempt.status_code = await self._post(delivery, body)
        except TimeoutError:
            attempt.error = f"no answer within {timeout:g} s"
        except httpx.HTTPError as exc:
            attempt.error = short(f"{type(exc).__name__}: {exc}" if str(exc)
                                   else type(exc).__name__)
        except (ValueError, TypeError) as exc:
            # A request that cannot be made (a host name that does not encode, say): final.
            attempt.error = short(f"the request cannot be made: {type(exc).__name__}: {exc}")
            delivery.outcome = FAILED
        attempt.elapsed_ms = (time.perf_counter() - started) * 1000
        status = attempt.status_code
        if delivery.outcome == FAILED:
            pass
        elif status is not None and 200 <= status < 300:
            delivery.outcome = DELIVERED
        elif status is not None and status < 500:
            # The receiver refused this payload; sending it again would not change that.
            delivery.outcome = FAILED
        elif self._retry_delay(delivery) is None:
            delivery.outcome = FAILED
        self.log.update(delivery)
        return DONE if delivery.outcome != PENDING else RETRY

    async def _post(self, delivery: Delivery, body: bytes) -> int:
        """POSTs the callback; the answer's status, its body read up to the limit."""
        assert self._client is not None
        assert delivery.url is not None
        async with self._client.stream(
            "POST", delivery.url, content=body, headers=self._headers(delivery, body)
        ) as response:
            read = 0
            try:
                # As sent, never decompressed: a small gzip answer cannot swell in memory.
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read > self.options.max_answer_bytes:
                        break  # the status decides; the rest of the body is not needed
            except httpx.StreamConsumed:
                pass  # an answer that was in memory already (a test's transport)
            return response.status_code

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
