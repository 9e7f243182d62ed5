"""`POST /_mock/calls/incoming`: a caller dials a VN (see `domain/incoming.py` for the rules).

A VN with a programmable Connect applet URL (`PUT /_mock/tenants/{id}/vns/{vn}/connect-url`)
sends callers that ExoBridge does not route to the applet (`domain/connect.py`); the route waits
for the applet's GET, made by the callback dispatcher.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..callbacks.dispatcher import CallbackSchemaViolation
from ..domain.incoming import IncomingCall
from ..errors import Code, ExoBridgeError
from ..numbers import InvalidNumber, to_e164
from .context import context
from .control import ControlError, checked_body, requestable


async def incoming_call(request: Request) -> JSONResponse:
    ctx = context(request)
    body = await checked_body(request, "simulateIncomingCall")
    tenant_id = body["tenant_id"]
    tenant = ctx.settings.tenants.get(tenant_id)
    if tenant is None:
        raise ControlError(f"no tenant {tenant_id!r}", 404)
    call = IncomingCall(
        vn=body["vn"],
        caller=body["from"],
        digits=body.get("digits"),
        answered=body["answered"],
        busy=body["busy"],
        talk_seconds=int(body["talk_seconds"]),
    )
    ctx.backend.tick()
    try:
        url = ctx.backend.incoming.connect_url(tenant, call)
        if url is None:
            result = ctx.backend.incoming.receive(tenant, call)
        else:
            fetch = request.app.state.dispatcher.fetch_connect
            result = await ctx.backend.connect.receive(tenant, call, url, fetch)
    except ExoBridgeError as exc:
        status = 404 if exc.code == Code.NUMBER_NOT_IN_GROUP else 400
        raise ControlError(exc.detail, status) from None
    except CallbackSchemaViolation as exc:
        # The call's own values (a caller's number of a form callbacks cannot carry) would
        # make a callback its schema refuses: the call is refused, and nothing of it kept.
        raise ControlError(f"this call cannot be simulated: {exc}"[:300]) from None
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
    url = (await checked_body(request, "setConnectUrl"))["url"]
    if url is not None:
        requestable(request, url)
    ctx.backend.set_connect_url(vn, url)
    return JSONResponse({"tenant_id": tenant.tenant_id, "vn": vn, "connect_url": url})


routes = [
    Route("/_mock/calls/incoming", incoming_call, methods=["POST"]),
    Route("/_mock/tenants/{tenant_id}/vns/{vn}/connect-url", set_connect_url, methods=["PUT"]),
]
