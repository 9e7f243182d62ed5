"""The one request the mock makes and waits for: the programmable Connect applet's GET.

An incoming call cannot go on without its answer, so the request is bounded as a whole (connect,
send, the whole answer) by one deadline, and its answer is read as a stream up to a size limit.
It is never retried: the caller is waiting on the line.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jsonschema_rs

from ..domain.deliveries import DELIVERED, FAILED, Attempt, Delivery

CONNECT_REQUEST = "connect_applet_request"
CONNECT_RESPONSE = "connect_applet_response"
# The longest the Connect applet waits for its URL (or the callbacks' timeout, when shorter).
CONNECT_TIMEOUT_SECONDS = 5.0
MAX_CONNECT_ANSWER_BYTES = 1048576
# At most this many problems of one answer are reported, each at most MESSAGE_LIMIT characters.
MAX_ANSWER_ERRORS = 10
MESSAGE_LIMIT = 300


@dataclass
class ConnectFetch:
    """What a Connect applet URL answered: the answer when it is usable, else what is wrong."""

    status_code: int | None
    answer: dict[str, Any] | None
    errors: list[str]
    delivery: Delivery


def short(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."


class _TooLarge(Exception):
    pass


class _Compressed(Exception):
    pass


async def fetch(
    client: httpx.AsyncClient,
    validator: jsonschema_rs.Validator,
    delivery: Delivery,
    timeout: float,
) -> ConnectFetch:
    """GETs `delivery.url` with its payload as the query, and checks the answer.

    The answer is usable when it is a 2xx whose body is JSON valid against
    `connect_applet_response`; otherwise `errors` says why (a schema violation names the
    member, as `destination/0/contact_uri: ...`). A timeout, a connection error or an answer
    over the size limit is an error too. The delivery is logged with the call it was made for,
    in that call's unit of work.
    """
    assert delivery.url is not None
    attempt = Attempt(number=1, at=delivery.created_at)
    delivery.attempts.append(attempt)
    headers = {
        "accept": "application/json",
        # The answer's size is checked as it arrives: compression would hide it.
        "accept-encoding": "identity",
        "user-agent": "exomock-connect",
        "x-exomock-event": CONNECT_REQUEST,
        "x-exomock-delivery": delivery.id,
    }
    answer: dict[str, Any] | None = None
    started = time.perf_counter()
    try:
        # The URL's own query parameters stay; the applet's are added after them.
        target = httpx.URL(delivery.url).copy_merge_params(delivery.payload)
        async with asyncio.timeout(timeout):
            status, content = await _get(client, target, headers)
    except TimeoutError:
        errors = [f"the URL did not answer within {timeout:g} s"]
    except _TooLarge:
        errors = [f"the answer is over {MAX_CONNECT_ANSWER_BYTES} bytes"]
    except _Compressed as exc:
        errors = [f"the answer is compressed ({exc}); the applet asks for it uncompressed"]
    except (httpx.HTTPError, httpx.InvalidURL, ValueError, TypeError) as exc:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        errors = [short(f"the URL could not be reached ({detail})")]
    else:
        attempt.status_code = status
        answer, errors = _answer(validator, status, content)
    attempt.elapsed_ms = (time.perf_counter() - started) * 1000
    attempt.error = short("; ".join(errors)) if errors else None
    delivery.outcome = FAILED if errors else DELIVERED
    return ConnectFetch(attempt.status_code, answer, errors, delivery)


async def _get(
    client: httpx.AsyncClient, target: httpx.URL, headers: dict[str, str]
) -> tuple[int, bytes]:
    async with client.stream("GET", target, headers=headers) as response:
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise _Compressed(encoding[:40])
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_raw():
            size += len(chunk)
            if size > MAX_CONNECT_ANSWER_BYTES:
                raise _TooLarge
            chunks.append(chunk)
        return response.status_code, b"".join(chunks)


def _answer(
    validator: jsonschema_rs.Validator, status: int, content: bytes
) -> tuple[dict[str, Any] | None, list[str]]:
    if not 200 <= status < 300:
        return None, [
            f"the URL answered HTTP {status}; a 2xx answer with the JSON of "
            "connect_applet_response is expected"
        ]
    try:
        answer = json.loads(content)
    except (ValueError, RecursionError) as exc:
        return None, [short(f"the answer is not valid JSON: {exc}")]
    problems = list(validator.iter_errors(answer))
    if problems:
        return None, [
            short(f"{_member(e)}: {_rule(e)}") for e in problems[:MAX_ANSWER_ERRORS]
        ]
    assert isinstance(answer, dict)
    return answer, []


def _member(error: jsonschema_rs.ValidationError) -> str:
    """Where in the answer: the path of members the schema knows (an array's index, or a
    member's name, which the schema allows, or the answer would have failed one level up)."""
    return "/".join(map(str, error.instance_path)) or "(top)"


def _rule(error: jsonschema_rs.ValidationError) -> str:
    """What is wrong, in a fixed form: never the answer's values, nor the names of members
    the schema does not know (an applet's answer may carry secrets)."""
    kind = type(error.kind).__name__
    detail = error.kind.as_dict()
    if kind == "Required":
        return f"the required member {detail['property']!r} is missing"
    if kind in ("AdditionalProperties", "UnevaluatedProperties"):
        count = len(detail.get("unexpected", ())) or 1
        return f"{count} member(s) the schema does not allow"
    if kind == "Type":
        return f"is not of type {' or '.join(map(str, detail.get('types', [])))}"
    if kind == "Enum":
        return "is not one of the values the schema allows"
    if kind == "Pattern":
        return "does not have the form the schema requires"
    words = "".join(f" {c.lower()}" if c.isupper() else c for c in kind).strip()
    return f"breaks the schema's {words} rule"
