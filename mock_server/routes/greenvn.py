"""GreenVN routes: `/v1/tenants/{tenant_id}/greenvn[/{greenvn_id}]`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from ..domain.greenvn import GreenVNRequest, Preferences
from .context import context, route
from .envelopes import Envelope, greenvn_success


def greenvn_request(body: dict[str, Any]) -> GreenVNRequest:
    """A checked create body as the domain's request (PINs and PIN codes as digit strings)."""
    prefs = body.get("preferences") or {}
    pin_code = prefs.get("pin_code")
    policy = body.get("deallocation_policy") or body.get("Deallocation_policy")
    return GreenVNRequest(
        connection_id=body["connection_id"],
        aparty_numbers=body["aparty_numbers"],
        bparty_numbers=body["bparty_numbers"],
        usage=body["usage"],
        aparty_pins=[str(p) for p in body.get("aparty_pins", ())],
        bparty_pins=[str(p) for p in body.get("bparty_pins", ())],
        strictness=body["strictness"],
        preferences=Preferences(
            greenvn=prefs.get("greenvn"),
            region=prefs.get("region"),
            pin_code=str(pin_code) if pin_code is not None else None,
            type=prefs.get("type"),
        ),
        duration=policy["duration"] if policy else None,
        flow_id=body.get("flow_id"),
    )


async def create_greenvn(request: Request) -> JSONResponse:
    ctx = context(request)
    tenant = ctx.begin(request, request.path_params["tenant_id"])
    body = await ctx.body(request, "createGreenVN")
    allocation = ctx.backend.greenvns.create(tenant, greenvn_request(body))
    return JSONResponse(greenvn_success(allocation))


async def get_greenvn(request: Request) -> JSONResponse:
    ctx = context(request)
    tenant = ctx.begin(request, request.path_params["tenant_id"])
    allocation = ctx.backend.greenvns.get(tenant, request.path_params["greenvn_id"])
    return JSONResponse(greenvn_success(allocation))


async def delete_greenvn(request: Request) -> JSONResponse:
    ctx = context(request)
    tenant = ctx.begin(request, request.path_params["tenant_id"])
    allocation = ctx.backend.greenvns.delete(tenant, request.path_params["greenvn_id"])
    return JSONResponse(greenvn_success(allocation))


routes = [
    route("/v1/tenants/{tenant_id}/greenvn", Envelope.GREENVN, POST=create_greenvn),
    route(
        "/v1/tenants/{tenant_id}/greenvn/{greenvn_id}",
        Envelope.GREENVN,
        GET=get_greenvn,
        DELETE=delete_greenvn,
    ),
]
