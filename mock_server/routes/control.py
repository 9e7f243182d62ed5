"""The mock's own control plane under `/_mock/` (described by `openapi/mock-control.yaml`).

It is for tests and local use: it has no credentials, and answers `{"error": ...}` with 400 or
404 when a request is wrong. Bodies are checked against that file's schemas, not by hand.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .. import __version__
from ..callbacks.urls import url_problem
from ..clock import format_iso, format_local
from ..domain.allocations import Allocation, Party
from ..domain.deliveries import OUTCOMES
from ..errors import ExoBridgeError, shortened
from ..spec import ControlSpec
from .context import context
from .requests import (
    MAX_JSON_DEPTH,
    depth_exceeds,
    has_lone_surrogates,
    parse_json,
    read_body,
)


@cache
def control_spec() -> ControlSpec:
    return ControlSpec()


class ControlError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        message = shortened(message)
        super().__init__(message)
        self.message = message
        self.status = status


async def checked_body(request: Request, operation_id: str) -> dict[str, Any]:
    """The JSON body (empty: `{}`), as `mock-control.yaml` documents it for the operation."""
    try:
        raw = await read_body(request, context(request).settings.max_body_bytes)
    except ExoBridgeError as exc:
        raise ControlError(exc.detail, 413) from None
    if not raw.strip():
        body: Any = {}
    else:
        text = raw.decode("utf-8", errors="replace")
        if depth_exceeds(text, MAX_JSON_DEPTH):
            raise ControlError(f"the body nests deeper than {MAX_JSON_DEPTH} levels")
        try:
            body = parse_json(text)
        except (ValueError, RecursionError):
            raise ControlError("the body is not valid JSON") from None
        if has_lone_surrogates(text, body):
            raise ControlError("the body holds an unpaired UTF-16 surrogate escape")
    if not isinstance(body, dict):
        raise ControlError("the body must be a JSON object")
    problem = control_spec().violation(operation_id, body)
    if problem is not None:
        raise ControlError(problem)
    filled: dict[str, Any] = control_spec().with_defaults(operation_id, body)
    return filled


def _party(party: Party) -> dict[str, Any]:
    return {"numbers": party.numbers, "vns": party.vns, "pins": party.pins}


def _allocation(allocation: Allocation) -> dict[str, Any]:
    return {
        "kind": allocation.kind,
        "id": allocation.id,
        "ref": allocation.ref,
        "state": allocation.state,
        "usage": allocation.usage,
        "a": _party(allocation.a),
        "b": _party(allocation.b),
        "created_at": format_local(allocation.created_at),
        "deallocation_time": format_local(allocation.deallocated_at or allocation.deallocate_at),
    }


def _clock_body(request: Request) -> dict[str, Any]:
    clock = context(request).backend.clock
    now = clock.now()
    return {
        "now": format_iso(now),
        "epoch_seconds": round(now, 3),
        "offset_seconds": clock.offset,
    }


async def reset(request: Request) -> JSONResponse:
    ctx = context(request)
    body = await checked_body(request, "reset")
    tenant_id = body.get("tenant_id")
    if tenant_id is not None and tenant_id not in ctx.settings.tenants:
        raise ControlError(f"no tenant {tenant_id!r}", 404)
    ctx.backend.reset(tenant_id)
    return JSONResponse({"reset": tenant_id or "all"})


async def get_health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "version": __version__})


async def get_clock(request: Request) -> JSONResponse:
    return JSONResponse(_clock_body(request))


async def advance_clock(request: Request) -> JSONResponse:
    ctx = context(request)
    body = await checked_body(request, "advanceClock")
    try:
        deallocated = ctx.backend.advance_clock(body["seconds"])
    except ValueError as exc:
        raise ControlError(str(exc)) from None
    return JSONResponse({**_clock_body(request), "deallocated": [a.id for a in deallocated]})


async def get_state(request: Request) -> JSONResponse:
    ctx = context(request)
    wanted = request.query_params.get("tenant_id")
    if wanted is not None and wanted not in ctx.settings.tenants:
        raise ControlError(f"no tenant {wanted!r}", 404)
    tenants = [wanted] if wanted else list(ctx.settings.tenants)
    return JSONResponse(
        {
            "clock": _clock_body(request),
            "tenants": {
                t: [_allocation(a) for a in ctx.backend.store.allocations(t)] for t in tenants
            },
        }
    )


async def list_callbacks(request: Request) -> JSONResponse:
    query = request.query_params
    outcome = query.get("outcome")
    if outcome is not None and outcome not in OUTCOMES:
        raise ControlError(f"outcome must be one of {', '.join(OUTCOMES)}")
    found = request.app.state.dispatcher.log.find(
        event=query.get("event"), tenant_id=query.get("tenant_id"), outcome=outcome
    )
    return JSONResponse({"callbacks": [d.as_json() for d in found]})


async def redeliver_callback(request: Request) -> JSONResponse:
    body = await checked_body(request, "redeliverCallback")
    url = body.get("url")
    if url is not None:
        requestable(request, url)
    again = context(request).backend.redeliver(request.path_params["delivery_id"], url)
    if again is None:
        raise ControlError(f"no callback {request.path_params['delivery_id']!r} in the log", 404)
    return JSONResponse(again.as_json(), status_code=202)


async def set_faults(request: Request) -> JSONResponse:
    ctx = context(request)
    body = await checked_body(request, "setFaults")
    count = int(body.get("internal_errors", 0))
    ctx.backend.set_faults(count)
    return JSONResponse({"internal_errors": count})


async def set_callback_urls(request: Request) -> JSONResponse:
    """Where a tenant's callbacks go, by event (`"*"` for every event); null removes a URL."""
    ctx = context(request)
    tenant = ctx.settings.tenants.get(request.path_params["tenant_id"])
    if tenant is None:
        raise ControlError(f"no tenant {request.path_params['tenant_id']!r}", 404)
    body = await checked_body(request, "setCallbackUrls")
    # The events are the callback schemas present: a rule of the files, not of the control spec.
    known = set(ctx.spec.callback_schemas) | {"*"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise ControlError(f"no callback event {unknown[0]!r}; events: {', '.join(sorted(known))}")
    for url in body.values():
        if url is not None:
            requestable(request, url)
    urls = ctx.backend.set_callback_urls(tenant.tenant_id, body)
    return JSONResponse({"tenant_id": tenant.tenant_id, "callback_urls": dict(urls)})


def requestable(request: Request, url: str) -> None:
    """Refuses (400) a URL the mock could not, or may not, request."""
    problem = url_problem(url, context(request).settings.callbacks.allowed_hosts)
    if problem is not None:
        raise ControlError(problem)


async def summarize_callbacks(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.dispatcher.summary())


async def control_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ControlError)
    return JSONResponse({"error": exc.message}, status_code=exc.status)


routes = [
    Route("/_mock/health", get_health, methods=["GET"]),
    Route("/_mock/reset", reset, methods=["POST"]),
    Route("/_mock/clock", get_clock, methods=["GET"]),
    Route("/_mock/clock/advance", advance_clock, methods=["POST"]),
    Route("/_mock/state", get_state, methods=["GET"]),
    Route("/_mock/callbacks", list_callbacks, methods=["GET"]),
    Route("/_mock/callbacks/summary", summarize_callbacks, methods=["GET"]),
    Route("/_mock/callbacks/{delivery_id}/redeliver", redeliver_callback, methods=["POST"]),
    Route("/_mock/faults", set_faults, methods=["POST"]),
    Route("/_mock/tenants/{tenant_id}/callback-urls", set_callback_urls, methods=["PUT"]),
]
