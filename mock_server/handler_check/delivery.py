"""Sending to the handler as the provider would, and keeping each request to replay it.

Callbacks are POSTed as JSON with the headers of the mock's own deliveries, less its
`x-exomock-*` ones (the provider sends none, so a handler must not need them). With a secret,
each is signed as the mock signs (Standard Webhooks: `webhook-id`, `webhook-timestamp`,
`webhook-signature`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import shlex
import time
from dataclasses import dataclass
from typing import Any

import httpx

from ..callbacks.dispatcher import sign
from .bounded import DELIVERY_ANSWER_CAP, Answer, bounded_request

__all__ = ["Exchange", "Sender", "new_secret", "secret_problem"]

# The form of the mock's `signing_secret` (config.schema.json): "whsec_" and base64.
_SECRET = re.compile(r"^whsec_[A-Za-z0-9+/=]{16,}$")
_ANSWER_SHOWN = 120


def secret_problem(secret: str) -> str | None:
    """Why `secret` cannot sign (None when it can)."""
    problem = "must be 'whsec_' followed by base64, as the mock's signing_secret"
    if not _SECRET.match(secret):
        return problem
    try:
        base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except binascii.Error:
        return problem
    return None


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def body_of(payload: Any) -> bytes:
    # Compact, as the mock writes it; non-ASCII as UTF-8 bytes rather than \u escapes, the form
    # that trips a handler decoding the body with the wrong charset.
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class Exchange:
    """One request to the handler and what came back."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes = b""
    status: int | None = None
    # The answer's beginning as text (it may hold anything: the report escapes it).
    answer: str = ""
    # The answer was longer than this many bytes, and cut there.
    cut_at: int | None = None
    error: str | None = None
    elapsed: float = 0.0

    def take(self, answer: Answer, cap: int) -> None:
        """Keeps what came back, the answer's text at most 1000 characters."""
        self.status, self.error, self.elapsed = answer.status, answer.error, answer.elapsed
        self.cut_at = cap if answer.cut else None
        if answer.encoding in ("", "identity"):
            self.answer = answer.content[:4000].decode("utf-8", errors="replace")[:1000]
        elif answer.content:
            self.answer = f"[a {answer.encoding[:40]}-encoded answer, not decoded]"

    def outcome(self) -> str:
        """What came back, in a few words: `200`, `500 "Internal Server Error"`, the error."""
        if self.error is not None:
            return self.error
        cut = f" (answer cut at {self.cut_at // 1024} KiB)" if self.cut_at is not None else ""
        shown = " ".join(self.answer.split())
        if self.status is not None and not 200 <= self.status < 300 and shown:
            if len(shown) > _ANSWER_SHOWN:
                shown = shown[: _ANSWER_SHOWN - 3] + "..."
            return f"{self.status} {shown}{cut}"
        return f"{self.status}{cut}"

    def curl(self) -> str:
        """The request as a curl command that sends the same bytes."""
        parts = ["curl", "-sS", "-i", "-X", self.method]
        for name, value in self.headers.items():
            parts += ["-H", f"{name}: {value}"]
        if self.body:
            parts += ["--data-binary", self.body.decode("utf-8", errors="replace")]
        parts.append(self.url)
        return " ".join(shlex.quote(part) for part in parts)


class Sender:
    """POSTs to the handler's URL (`{event}` in it is replaced by the event's name)."""

    def __init__(
        self, client: httpx.Client, url: str, secret: str | None, deadline: float,
        *, own_client: bool = True,
    ) -> None:
        self.client = client
        self.url = url
        self.secret = secret
        self.deadline = deadline
        # A client given by the caller keeps its own timeouts (a Starlette TestClient takes
        # none); the deadline is still judged from the time each answer took.
        self.own_client = own_client

    def target(self, event: str) -> str:
        return self.url.replace("{event}", event)

    def headers(
        self,
        body: bytes,
        *,
        secret: str | None = None,
        message_id: str | None = None,
        timestamp: int | None = None,
        signed_body: bytes | None = None,
    ) -> dict[str, str]:
        """The provider's headers; signed with `secret` (default: the run's) when there is one."""
        headers = {"content-type": "application/json", "user-agent": "exomock-check-handler"}
        key = secret or self.secret
        if key is not None:
            message_id = message_id or f"msg_{secrets.token_hex(12)}"
            timestamp = int(time.time()) if timestamp is None else timestamp
            headers["webhook-id"] = message_id
            headers["webhook-timestamp"] = str(timestamp)
            headers["webhook-signature"] = sign(key, message_id, timestamp, signed_body or body)
        return headers

    def post(
        self, event: str, payload: Any = None, *, headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Exchange:
        """POSTs `payload` as JSON, or `body` as given; signed unless `headers` are given."""
        body = body_of(payload) if body is None else body
        exchange = Exchange("POST", self.target(event), headers or self.headers(body), body)
        return self.send(exchange)

    def send(self, exchange: Exchange) -> Exchange:
        """Sends a delivery, bounded as a whole by the run's deadline."""
        return self.fetch(exchange, self.deadline, DELIVERY_ANSWER_CAP)[0]

    def fetch(self, exchange: Exchange, deadline: float, cap: int) -> tuple[Exchange, Answer]:
        """Sends the exchange; what came back as kept, and whole (up to `cap`)."""
        answer = bounded_request(
            self.client, exchange.method, exchange.url, headers=exchange.headers,
            body=exchange.body, deadline=deadline, cap=cap, client_timeouts=not self.own_client,
        )
        exchange.take(answer, cap)
        return exchange, answer

    def accepted(self, exchange: Exchange) -> str | None:
        """Why the exchange is not what the provider takes as delivered (None when it is)."""
        if exchange.error is not None:
            return f"a 2xx within {self.deadline:g} s was expected; {exchange.error}"
        assert exchange.status is not None
        if not 200 <= exchange.status < 300:
            return f"a 2xx was expected, the handler answered {exchange.outcome()}"
        if exchange.elapsed > self.deadline:
            return (f"answered after {exchange.elapsed:.2f} s, over the {self.deadline:g} s "
                    "deadline: the provider counts it as failed and sends it again")
        return None
