"""GreenPin routes: `/v1/tenants/{tenant_id}/greenpin[/{greenpin_id}]`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from ..domain.greenpin import BulkItem, GreenPinRequest, PartyRequest
from ..errors import ExoBridgeError
from .context import context, route
from .envelopes import Envelope, error_body, greenpin_data, greenpin_success


def _party(raw: dict[str, Any] | None) -> PartyRequest | None:
    if raw is None:
        return None
    length = raw.get("pin_length")
    return PartyRequest(
        numbers=raw.get("numbers"),
        vns=raw.get("vns"),
        pin=raw.get("pin"),
        pin_length=int(length) if length is not None else None,
    )


def greenpin_request(body: dict[str, Any]) -> GreenPinRequest:
    """A checked create or update body as the domain's request."""
    policy = body.get("deallocation_policy") or body.get("Deallocation_policy")
    return GreenPinRequest(
        transaction_id=body.get("transaction_id"),
        a=_party(body.get("a")),
        b=_party(body.get("b")),
        usage=body.get("usage"),
        duration=policy["duration"] if policy else None,
    )


async def create_greenpin(request: Request) -> JSONResponse:
    ctx = context(request)
    tenant = ctx.begin(request, request.path_params["tenant_id"])
    body = await ctx.body(request, "createGreenPin")
    allocation = ctx.backend.greenpins.create(tenant, greenpin_request(body))
    return JSONResponse(greenpin_success(allocation))


async def list_greenpins(request: Request) -> JSONResponse:
    ctx = context(request)
    tenant = ctx.begin(request, request.path_params["tenant_id"])
    query = ctx.query_check("listGreenPins").parse(request.query_params)
    page, page_size = query.pop("page"), query.pop("page_size")
    total, found = ctx.backend.greenpins.search(tenant, page=page, page_size=page_size, **query)
    return JSONResponse(
        {
            "success": True,
            "status": 200,
            "code": None,
            "message": None,
            "metadata": {"total": total, "page": page, "page_size": page_size},
            "data": [greenpin_data(a) for a in found],
        }
    )


async def bulk_update_greenpins(request: Request) -> JSONResponse:
    ctx = context(request)
    tenant = ctx.begin(request, request.path_params["tenant_id"])
    body = await ctx.body(request, "bulkUpdateGreenPins")
    item_check = ctx.body_check("bulkUpdateGreenPins").item_checks["greenpins"]
    items = []
    for index, raw in enumerate(body["greenpins"]):
        try:
            item_check.check(raw)
        except ExoBridgeError as exc:
            error = ExoBridgeError(exc.code, f"greenpins[{index}]: {exc.detail}")
            items.append(BulkItem(None, error=error))
            continue
        items.append(BulkItem(raw["greenpin_id"], greenpin_request(raw)))
    results = ctx.backend.greenpins.bulk_update(tenant, items)
    answers = [
        error_body(ctx.spec, r) if isinstance(r, ExoBridgeError) else greenpin_success(r)
        for r in results
    ]
    failed = sum(1 for r in results if isinstance(r, ExoBridgeError))
    return JSONResponse(
        {
            "request_id": ctx.backend.ids.request_id(),
            "method": "PUT",
            "http_code": 207,
            "metadata": {"failed": failed, "total": len(results), "success": len(results) - failed},
            "response": answers,
        },
        status_code=207,
    )


async def get_greenpin(request: Request) -> JSONResponse:
    ctx = context(request)
    tenant = ctx.begin(request, request.path_params["tenant_id"])
    allocation = ctx.backend.greenpins.get(tenant, request.path_params["greenpin_id"])
    return JSONResponse(greenpin_success(allocation))


async def update_greenpin(request: Request) -> JSONResponse:
    ctx = context(request)
    tenant = ctx.begin(request, request.path_params["tenant_id"])
    body = await ctx.body(request, "updateGreenPin")
    allocation = ctx.backend.greenpins.update(
        tenant, request.path_params["greenpin_id"], greenpin_request(body)
    )
    return JSONResponse(
        greenpin_success(allocation, request_id=ctx.backend.ids.request_id(), method="PUT")
    )


async def delete_greenpin(request: Request) -> JSONResponse:
    ctx = context(request)
    tenant = ctx.begin(request, request.path_params["tenant_id"])
    allocation = ctx.backend.greenpins.delete(tenant, request.path_params["greenpin_id"])
    return JSONResponse(greenpin_success(allocation))


routes = [
    route(
        "/v1/tenants/{tenant_id}/greenpin",
        Envelope.EXOBRIDGE,
        POST=create_greenpin,
        GET=list_greenpins,
        PUT=bulk_update_greenpins,
    ),
    route(
        "/v1/tenants/{tenant_id}/greenpin/{greenpin_id}",
        Envelope.EXOBRIDGE,
        GET=get_greenpin,
        PUT=update_greenpin,
        DELETE=delete_greenpin,
    ),
]
