"""`POST /_mock/calls/incoming`: a caller dials a VN (see `domain/incoming.py` for the rules)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..domain.incoming import DEFAULT_TALK_SECONDS, IncomingCall
from ..errors import ExoBridgeError
from .context import context
from .control import ControlError, optional_body

MAX_TALK_SECONDS = 4 * 3600


def _text(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ControlError(f"{name} must be a non-empty string")
    return value


async def incoming_call(request: Request) -> JSONResponse:
    ctx = context(request)
    body = await optional_body(request)
    tenant_id = body.get("tenant_id", "demo")
    tenant = ctx.settings.tenants.get(tenant_id) if isinstance(tenant_id, str) else None
    if tenant is None:
        raise ControlError(f"no tenant {tenant_id!r}", 404)
    digits = _text(body, "digits", required=False) if body.get("digits") != "" else ""
    if digits and not digits.isdigit():
        raise ControlError("digits must be digits")
    talk = body.get("talk_seconds", DEFAULT_TALK_SECONDS)
    if isinstance(talk, bool) or not isinstance(talk, int) or not 1 <= talk <= MAX_TALK_SECONDS:
        raise ControlError(f"talk_seconds must be a whole number from 1 to {MAX_TALK_SECONDS}")
    for flag in ("answered", "busy"):
        if not isinstance(body.get(flag, False), bool):
            raise ControlError(f"{flag} must be true or false")
    call = IncomingCall(
        vn=_text(body, "vn") or "",
        caller=_text(body, "from") or "",
        digits=digits,
        answered=body.get("answered", True),
        busy=body.get("busy", False),
        talk_seconds=talk,
    )
    ctx.backend.deallocate_due()
    try:
        result = ctx.backend.incoming.receive(tenant, call)
    except ExoBridgeError as exc:
        raise ControlError(exc.detail, 404 if exc.code == 20 else 400) from None
    return JSONResponse(result.as_json())


routes = [Route("/_mock/calls/incoming", incoming_call, methods=["POST"])]
