"""The dashboard at `/_mock/ui` and the control-plane reads it polls (`mock-control.yaml`).

The page and its assets are static files of the package (`mock_server/dashboard/`) and hold
no state, so they are served without the control token (`routes/guard.py`); every read and
write the page makes is an ordinary control-plane request and carries it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..callbacks.dispatcher import CallbackSchemaViolation
from ..clock import format_iso
from ..domain.allocations import ACTIVE, VAULT
from ..domain.browse import (
    MAX_PAGE,
    MAX_PAGE_SIZE,
    MAX_QUERY_LENGTH,
    allocations_page,
    calls_page,
    deliveries_by_call,
    deliveries_page,
)
from ..domain.call_model import V1_INBOUND, CallRecord, Leg
from ..domain.deliveries import OUTCOMES, Delivery
from ..fakes import POSTED_EVENTS, fake
from ..settings import Tenant
from .context import context
from .control import ControlError, _allocation, _clock_body, checked_body, requestable

ASSETS_DIR = Path(__file__).resolve().parent.parent / "dashboard"
# The only files served: a name in the URL never reaches the file system.
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "control.js": "text/javascript; charset=utf-8",
    "render.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    # The page runs only its own script and talks only to the mock that served it.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
}
DEFAULT_PAGE_SIZE = 50


# -- the page -------------------------------------------------------------------------------------


async def page(request: Request) -> Response:
    html = (ASSETS_DIR / "index.html").read_bytes()
    return Response(html, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    media_type = ASSETS.get(name)
    if media_type is None:
        raise ControlError("no such dashboard asset", 404)
    return Response((ASSETS_DIR / name).read_bytes(), media_type=media_type,
                    headers=PAGE_HEADERS)


# -- query parameters -----------------------------------------------------------------------------


def _whole(request: Request, name: str, default: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 7 and 1 <= int(raw) <= maximum):
        raise ControlError(f"{name} must be a whole number from 1 to {maximum}")
    return int(raw)


def _text(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name)
    if raw is not None and len(raw) > MAX_QUERY_LENGTH:
        raise ControlError(f"{name} is longer than {MAX_QUERY_LENGTH} characters")
    return raw


def _tenant_id(request: Request) -> str | None:
    """The `tenant_id` asked for, if any; 404 when the mock has no such tenant."""
    tenant_id = _text(request, "tenant_id")
    if tenant_id is not None and tenant_id not in context(request).settings.tenants:
        raise ControlError(f"no tenant {tenant_id!r}", 404)
    return tenant_id


def _tenant(request: Request) -> Tenant:
    """The tenant asked for, or the configuration's first."""
    tenants = context(request).settings.tenants
    tenant_id = _tenant_id(request)
    return tenants[tenant_id] if tenant_id is not None else next(iter(tenants.values()))


def _paging(request: Request) -> tuple[int, int, int]:
    """(page, page size, offset of the page's first item)."""
    number = _whole(request, "page", 1, MAX_PAGE)
    size = _whole(request, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    return number, size, (number - 1) * size


# -- reads ----------------------------------------------------------------------------------------


async def overview(request: Request) -> JSONResponse:
    """What the page's header shows on every poll: the clock, each tenant's counts and VNs,
    the callback events, how delivery stands."""
    ctx = context(request)
    store, calls = ctx.backend.store, ctx.backend.state.calls
    tenants = []
    for tenant in ctx.settings.tenants.values():
        allocations = list(store.allocations(tenant.tenant_id))
        active = sum(1 for a in allocations if a.state == ACTIVE)
        tenants.append({
            "tenant_id": tenant.tenant_id,
            "active": active,
            "vault": len(allocations) - active,
            "calls": len(calls.calls(tenant.tenant_id)),
            "vns": [n.number for n in tenant.numbers],
        })
    dispatcher = request.app.state.dispatcher
    return JSONResponse({
        "clock": _clock_body(request),
        "tenants": tenants,
        "events": sorted(ctx.spec.callback_schemas),
        # The events sent as a POST of their payload (a fake of one is what a receiver gets):
        # not the Connect applet's GET and the answer it expects.
        "posted_events": list(POSTED_EVENTS),
        "callbacks": dispatcher.summary(),
    })


async def list_allocations(request: Request) -> JSONResponse:
    tenant = _tenant(request)
    query = _text(request, "q") or ""
    state = request.query_params.get("state")
    if state is not None and state not in (ACTIVE, VAULT):
        raise ControlError(f"state must be {ACTIVE} or {VAULT}")
    number, size, offset = _paging(request)
    store = context(request).backend.store
    found = allocations_page(store.allocations(tenant.tenant_id), query, state, offset, size)
    return JSONResponse({
        "tenant_id": tenant.tenant_id,
        "page": number,
        "page_size": size,
        "total": found.total,
        "clock": _clock_body(request),
        "allocations": [
            {**_allocation(a), "deallocation_epoch": a.deallocated_at or a.deallocate_at}
            for a in found.items
        ],
    })


def _leg_state(leg: Leg, now: float) -> str:
    """Where a leg is on the mock's clock: `ringing`, `talking` (answered, not ended), `ended`."""
    if leg.ended_at is not None and leg.ended_at <= now:
        return "ended"
    if leg.answered_at is not None and leg.answered_at <= now:
        return "talking"
    return "ringing"


def _leg(leg: Leg, start: float, now: float) -> dict[str, Any]:
    def offset(at: float | None) -> float | None:
        return None if at is None else round(at - start, 3)

    return {
        "leg_number": leg.leg_number,
        "contact": leg.contact,
        "direction": leg.direction,
        "state": _leg_state(leg, now),
        "status": leg.status,
        "start_offset": offset(leg.created_at),
        "answer_offset": offset(leg.answered_at),
        "end_offset": offset(leg.ended_at),
    }


def _call(call: CallRecord, callbacks: list[Delivery], now: float) -> dict[str, Any]:
    incoming = call.direction == V1_INBOUND
    return {
        "sid": call.sid,
        "kind": "incoming" if incoming else "click_to_call",
        "from": call.from_number,
        "to": call.to_number,
        "virtual_number": call.virtual_number,
        "state": call.state,
        "status": call.status,
        # How the call ended, once it has: an incoming call's course is decided when it comes
        # in, but what is not yet played out is not shown as done.
        "outcome": None if call.active else call.status,
        "connected_to": call.connected_to,
        "created_at": format_iso(call.created_at),
        "ended_at": None if call.ended_at is None else format_iso(call.ended_at),
        "duration": call.total_duration,
        "legs": [_leg(leg, call.created_at, now) for leg in call.legs],
        "callbacks": [
            {"id": d.id, "event": d.event, "outcome": d.outcome, "url": d.url} for d in callbacks
        ],
    }


async def list_calls(request: Request) -> JSONResponse:
    tenant = _tenant(request)
    number, size, offset = _paging(request)
    backend = context(request).backend
    found = calls_page(backend.state.calls.calls(tenant.tenant_id), offset, size)
    log = request.app.state.dispatcher.log
    caused = deliveries_by_call(log.find(tenant_id=tenant.tenant_id), {c.sid for c in found.items})
    now = backend.now()
    return JSONResponse({
        "tenant_id": tenant.tenant_id,
        "page": number,
        "page_size": size,
        "total": found.total,
        "calls": [_call(c, caused[c.sid], now) for c in found.items],
    })


def _schema_verdict(request: Request, delivery: Delivery) -> str | None:
    """None when the payload is valid against its event's schema, else what is wrong."""
    try:
        request.app.state.dispatcher.check(delivery.event, delivery.payload)
    except CallbackSchemaViolation as exc:
        return str(exc)[:500]
    return None


async def recent_callbacks(request: Request) -> JSONResponse:
    tenant_id = _tenant_id(request)
    event = _text(request, "event")
    if event is not None and event not in context(request).spec.callback_schemas:
        raise ControlError("event must be a callback event (the overview's events)")
    outcome = request.query_params.get("outcome")
    if outcome is not None and outcome not in OUTCOMES:
        raise ControlError(f"outcome must be one of {', '.join(OUTCOMES)}")
    number, size, offset = _paging(request)
    found = deliveries_page(
        request.app.state.dispatcher.log.find(
            event=event, tenant_id=tenant_id, outcome=outcome
        ),
        offset,
        size,
    )
    return JSONResponse({
        "page": number,
        "page_size": size,
        "total": found.total,
        "callbacks": [
            {**d.as_json(), "schema_errors": _schema_verdict(request, d)} for d in found.items
        ],
    })


# -- writes ---------------------------------------------------------------------------------------


async def send_fake_callback(request: Request) -> JSONResponse:
    """A realistic payload of any event (`mock_server.fakes`), logged and sent to `url` like
    every callback."""
    ctx = context(request)
    body = await checked_body(request, "sendFakeCallback")
    tenant_id = body.get("tenant_id", next(iter(ctx.settings.tenants)))
    if tenant_id not in ctx.settings.tenants:
        raise ControlError(f"no tenant {tenant_id!r}", 404)
    event = body["event"]
    if event not in ctx.spec.callback_schemas:
        raise ControlError(f"no callback event {event!r}")
    if event not in POSTED_EVENTS:
        # The Connect applet's request is a GET the mock makes, and its response is the
        # client's answer: neither is a callback to POST.
        raise ControlError(
            f"{event} is not sent as a POST; POST /_mock/calls/incoming on a VN with a Connect "
            "URL makes the applet's request"
        )
    requestable(request, body["url"])
    seed = body.get("seed")
    payload = fake(event, seed=None if seed is None else int(seed))
    backend = ctx.backend
    with backend.unit() as changes:
        first = len(changes.deliveries)
        backend.emit(tenant_id, event, payload, url=body["url"])
        sent = changes.deliveries[first]
    return JSONResponse(sent.as_json(), status_code=202)


routes = [
    Route("/_mock/ui", page, methods=["GET"]),
    Route("/_mock/ui/assets/{name}", asset, methods=["GET"]),
    Route("/_mock/overview", overview, methods=["GET"]),
    Route("/_mock/allocations", list_allocations, methods=["GET"]),
    Route("/_mock/calls", list_calls, methods=["GET"]),
    Route("/_mock/callbacks/recent", recent_callbacks, methods=["GET"]),
    Route("/_mock/callbacks/fake", send_fake_callback, methods=["POST"]),
]
