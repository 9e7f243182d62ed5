"""Reading a request: its JSON body within limits, and whose credentials it carries."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
import re
from typing import Any

from starlette.requests import Request

from ..errors import Code, ExoBridgeError
from ..settings import Settings, Tenant

# What a client is told to answer a 401 with: the provider's APIs take HTTP Basic credentials.
BASIC_CHALLENGE = 'Basic realm="exobridge", charset="UTF-8"'
# How many distinct accepted Authorization headers are remembered, and the longest one that is.
ACCEPTED_HEADERS_KEPT = 1024
ACCEPTED_HEADER_BYTES = 512
# JSON nested deeper than this is refused before the parser recurses into it.
MAX_JSON_DEPTH = 64


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# Integral floats up to this size are exact in a double, and are read as the integer they are.
_EXACT_INTEGERS = 2**53


def _read_float(text: str) -> float | int:
    """A JSON number with a fraction or exponent, read by its value (the spec's rule): `1234.0`
    and `1.234e3` are 1234; one out of a double's range is refused."""
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:20]} is out of range")
    if value.is_integer() and abs(value) < _EXACT_INTEGERS:
        return int(value)
    return value


# One decoder for every request (json.loads with options builds a new one per call).
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_read_float)
# An escaped UTF-16 surrogate (`\ud800`): paired ones decode to one character, a lone one to a
# string that is not Unicode text and cannot be stored, answered or sent in a callback.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def header(request: Request, name: bytes) -> str | None:
    """One request header (`name` in lower case, as ASGI servers give names), without building
    Starlette's `Headers`, whose lookups cost a microsecond each on the hot path."""
    for key, value in request.scope["headers"]:
        if key == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None


def parse_json(text: str) -> Any:
    """JSON text as Python values; NaN and Infinity, which JSON does not have, are refused."""
    return _DECODER.decode(text)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The body's bytes; code 5 with 413 once it is over `max_bytes` (read no further)."""
    declared = header(request, b"content-length") or ""
    if not declared.isascii():
        declared = ""
    if declared.isdigit() and int(declared) > max_bytes:
        raise ExoBridgeError(
            Code.BAD_PARAMETERS, f"the body is over the limit of {max_bytes} bytes", status=413
        )
    if declared.isdigit():
        # The server holds the body to its declared length, which is within the limit.
        return await request.body()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ExoBridgeError(
                Code.BAD_PARAMETERS, f"the body is over the limit of {max_bytes} bytes", status=413
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, max_bytes: int) -> Any:
    """The body as JSON; code 5 with 415, 413 or 400 when it is not a JSON body within limits."""
    content_type = header(request, b"content-type") or ""
    if content_type != "application/json":  # what nearly every client sends, checked first
        media_type = content_type.split(";")[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            raise ExoBridgeError(
                Code.BAD_PARAMETERS,
                f"the body must be application/json, not {media_type or 'untyped'}", status=415
            )
    raw = await read_body(request, max_bytes)
    if not raw or raw.isspace():
        raise ExoBridgeError(Code.BAD_PARAMETERS, "the body is empty; a JSON object is expected")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ExoBridgeError(
            Code.BAD_PARAMETERS, f"the body is not UTF-8 (byte {exc.start})"
        ) from None
    if depth_exceeds(text, MAX_JSON_DEPTH):
        raise ExoBridgeError(
            Code.BAD_PARAMETERS, f"the body nests deeper than {MAX_JSON_DEPTH} levels"
        )
    try:
        body = parse_json(text)
    except (ValueError, RecursionError) as exc:
        raise ExoBridgeError(Code.BAD_PARAMETERS, f"the body is not valid JSON: {exc}") from None
    if has_lone_surrogates(text, body):
        raise ExoBridgeError(
            Code.BAD_PARAMETERS,
            "the body holds an unpaired UTF-16 surrogate escape, which is not Unicode text"
        )
    return body


def has_lone_surrogates(text: str, body: Any) -> bool:
    """Whether `body`, decoded from the JSON `text`, holds a string with an unpaired surrogate."""
    if "\\u" not in text or not _SURROGATE_ESCAPE.search(text):
        return False
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def depth_exceeds(text: str, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than `limit` (cheap for ordinary bodies)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


class Credentials:
    """Basic credentials of every tenant, looked up by API key (or, on the classic v1 paths,
    by account SID: the classic clients send `<account sid>:<api token>`)."""

    def __init__(self, settings: Settings) -> None:
        self._by_key: dict[str, tuple[str, Tenant]] = {}
        # Header values already decoded and accepted: clients send the same one every time.
        self._accepted: dict[str, Tenant] = {}
        # Kept apart: an account-SID header is accepted on the classic paths only.
        self._accepted_classic: dict[str, Tenant] = {}
        self._tenants = dict(settings.tenants)
        for tenant in settings.tenants.values():
            for key, token in tenant.credentials:
                self._by_key[key] = (token, tenant)

    def tenant_of(self, authorization: str | None) -> Tenant:
        """The tenant whose credentials these are; code 7 when there are none or they are wrong."""
        known = self._accepted.get(authorization) if authorization else None
        if known is not None:
            return known
        tenant = self._decode(authorization)
        # Bounded in bytes too: a header padded to a megabyte is checked, never kept.
        if (
            len(self._accepted) < ACCEPTED_HEADERS_KEPT
            and authorization is not None
            and len(authorization) <= ACCEPTED_HEADER_BYTES
        ):
            self._accepted[authorization] = tenant
        return tenant

    @staticmethod
    def _user_and_password(authorization: str | None) -> tuple[str, str | None]:
        if not authorization:
            raise ExoBridgeError(Code.AUTHENTICATION_FAILED, "HTTP Basic credentials are required")
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            raise ExoBridgeError(
                Code.AUTHENTICATION_FAILED, "only HTTP Basic authentication is supported"
            )
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ExoBridgeError(
                Code.AUTHENTICATION_FAILED, "the Basic credentials are not valid base64"
            ) from None
        user, sep, password = decoded.partition(":")
        return user, password if sep else None

    def _account_tenant(self, authorization: str | None) -> Tenant | None:
        """The tenant whose `<account sid>:<one of its tokens>` the header is, if any."""
        known = self._accepted_classic.get(authorization) if authorization else None
        if known is not None or not authorization:
            return known
        try:
            user, token = self._user_and_password(authorization)
        except ExoBridgeError:
            return None
        tenant = self._tenants.get(user)
        if tenant is None or token is None:
            return None
        # Every token is compared, so the time taken does not tell which one matched.
        matches = [hmac.compare_digest(t.encode(), token.encode()) for _, t in tenant.credentials]
        if not any(matches):
            return None
        if (
            len(self._accepted_classic) < ACCEPTED_HEADERS_KEPT
            and len(authorization) <= ACCEPTED_HEADER_BYTES
        ):
            self._accepted_classic[authorization] = tenant
        return tenant

    def _decode(self, authorization: str | None) -> Tenant:
        key, token = self._user_and_password(authorization)
        sep = token is not None
        token = token or ""
        known = self._by_key.get(key)
        if not sep or known is None or not hmac.compare_digest(known[0].encode(), token.encode()):
            raise ExoBridgeError(Code.AUTHENTICATION_FAILED, "unknown API key or wrong token")
        return known[1]

    def authorise(
        self, authorization: str | None, tenant_id: str, *, account_sid_user: bool = False
    ) -> Tenant:
        """The path's tenant, if these credentials are its own; code 8 if they are another's.
        With `account_sid_user` (the classic v1 paths) the account SID may stand for the key."""
        classic = self._account_tenant(authorization) if account_sid_user else None
        tenant = classic or self.tenant_of(authorization)
        if tenant.tenant_id != tenant_id:
            raise ExoBridgeError(
                Code.NOT_PERMITTED, f"these credentials are not tenant {tenant_id!r}'s"
            )
        return tenant
