"""`POST /_mock/calls/incoming`: a caller dials a VN (see `domain/incoming.py` for the rules).

A VN with a programmable Connect applet URL (`PUT /_mock/tenants/{id}/vns/{vn}/connect-url`)
sends callers that ExoBridge does not route to the applet (`domain/connect.py`); the route waits
for the applet's GET, made by the callback dispatcher.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..domain.incoming import DEFAULT_TALK_SECONDS, IncomingCall
from ..errors import ExoBridgeError
from ..numbers import InvalidNumber, to_e164
from .context import context
from .control import ControlError, optional_body

MAX_TALK_SECONDS = 4 * 3600
MAX_URL_LENGTH = 2048


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
        url = ctx.backend.incoming.connect_url(tenant, call)
        if url is None:
            result = ctx.backend.incoming.receive(tenant, call)
        else:
            fetch = request.app.state.dispatcher.fetch_connect
            result = await ctx.backend.connect.receive(tenant, call, url, fetch)
    except ExoBridgeError as exc:
        raise ControlError(exc.detail, 404 if exc.code == 20 else 400) from None
    return JSONResponse(result.as_json())


async def set_connect_url(request: Request) -> JSONResponse:
    """A VN's programmable Connect applet URL (`null` removes it); a reset restores the
    configured one."""
    ctx = context(request)
    tenant = ctx.settings.tenants.get(request.path_params["tenant_id"])
    if tenant is None:
        raise ControlError(f"no tenant {request.path_params['tenant_id']!r}", 404)
    raw_vn = request.path_params["vn"]
    try:
        vn = to_e164(raw_vn)
    except InvalidNumber as exc:
        raise ControlError(f"vn: {exc}") from None
    if tenant.pool_number(vn) is None:
        raise ControlError(f"{vn} is not a virtual number of tenant {tenant.tenant_id}", 404)
    body = await optional_body(request)
    if "url" not in body:
        raise ControlError('the body must be {"url": "http(s)://..."} or {"url": null}')
    url = body["url"]
    if url is not None and not (
        isinstance(url, str)
        and url.startswith(("http://", "https://"))
        and len(url) <= MAX_URL_LENGTH
        and not any(c.isspace() for c in url)
    ):
        raise ControlError(f"url must be an http(s) URL of at most {MAX_URL_LENGTH} characters, "
                           "or null")
    ctx.backend.connect_urls[vn] = url
    return JSONResponse({"tenant_id": tenant.tenant_id, "vn": vn, "connect_url": url})


routes = [
    Route("/_mock/calls/incoming", incoming_call, methods=["POST"]),
    Route("/_mock/tenants/{tenant_id}/vns/{vn}/connect-url", set_connect_url, methods=["PUT"]),
]
