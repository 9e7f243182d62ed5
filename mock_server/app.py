"""The Starlette application: routes, the one error mapping, and the background work."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import gc_tuning
from .callbacks.dispatcher import CallbackDispatcher
from .clock import Clock
from .domain.backend import Backend
from .domain.changes import StoreUnavailable
from .domain.ports import Store
from .errors import CallRefused, CallsApiError, Code, ExoBridgeError
from .ids import IdSource
from .routes import calls, classic, control, dashboard, greenpin, greenvn, simulator
from .routes.browsers import BrowserGuard
from .routes.context import ApiContext
from .routes.envelopes import Envelope, envelope_of, error_body
from .routes.guard import ControlGuard
from .routes.requests import BASIC_CHALLENGE
from .settings import Settings
from .spec import Spec
from .store.deliveries import DeliveryLog
from .store.shared import RedisState
from .store.state import State

logger = logging.getLogger("exomock")

# How often, at most, the background task looks for calls and allocations whose time has come.
DEALLOCATION_TICK_SECONDS = 0.5


CALL_ENVELOPES = (Envelope.CALLS, Envelope.CALL_LEGS, Envelope.CLASSIC)


def exobridge_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ExoBridgeError)
    spec: Spec = request.app.state.context.spec
    envelope = envelope_of(request.scope)
    if envelope in CALL_ENVELOPES:
        account_sid = request.path_params.get("account_sid")
        return calls.error_response(request, calls.calls_error(spec, exc, account_sid))
    body = error_body(spec, exc)
    headers = {"Retry-After": "1"} if body["status"] == 429 else None
    if body["status"] == 401:
        headers = {"WWW-Authenticate": BASIC_CHALLENGE}
    content = [body] if envelope == Envelope.GREENVN else body
    return JSONResponse(content, status_code=body["status"], headers=headers)


def http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods: the envelope's shape, without an Appendix-1 code."""
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    envelope = envelope_of(request.scope)
    if envelope in CALL_ENVELOPES:
        status = exc.status_code
        error = CallsApiError(status, status, calls.MESSAGES.get(status, exc.detail), exc.detail)
        return calls.error_response(request, error, headers)
    body = {
        "success": False,
        "status": exc.status_code,
        "code": None,
        "message": exc.detail,
        "data": None,
    }
    content = [body] if envelope == Envelope.GREENVN else body
    return JSONResponse(content, status_code=exc.status_code, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on this path (Starlette names only the first route's).

    A concrete path hides a templated one that also matches it, as in OpenAPI:
    `/Calls/connect.json` allows POST only, though `/Calls/{call_sid}` has a GET.
    """
    matching = [
        route
        for route in request.app.routes
        if isinstance(route, Route)
        and route.methods
        and route.path_regex.match(request.url.path)
        and not route.path.startswith("/{version}")
        and route.path != classic.OUTSIDE_CONTRACT
    ]
    fewest = min((len(route.param_convertors) for route in matching), default=0)
    methods: set[str] = set()
    for route in matching:
        if len(route.param_convertors) == fewest:
            methods |= route.methods or set()
    return sorted(methods)


def call_refused(request: Request, exc: Exception) -> Response:
    """A refusal of the calls domain, in the envelope of the voice APIs."""
    assert isinstance(exc, CallRefused)
    return calls.error_response(request, calls.refusal(exc))


def calls_api_error(request: Request, exc: Exception) -> Response:
    """A refusal of the voice APIs, in the v3 envelope or the v1 `RestException`."""
    assert isinstance(exc, CallsApiError)
    return calls.error_response(request, exc)


def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """A defect of the mock, or a state it could not keep: code 0 in the envelope with an error
    id, and the traceback under the same id in the log, once. The answer never carries the
    exception's text (it may name files, paths or inputs)."""
    error_id = secrets.token_hex(6)  # not from the seeded ids: a failure shifts no seeded id
    logger.error(
        "internal error %s on %s %s", error_id, request.method, request.url.path, exc_info=exc
    )
    detail = f"error id {error_id}"
    if isinstance(exc, StoreUnavailable):
        detail = f"the state could not be kept, and nothing of this request was ({detail})"
    return exobridge_error(request, ExoBridgeError(Code.INTERNAL_ERROR, detail))


class InternalErrors:
    """Answers an exception no handler took with `internal_error`, and ends there.

    Starlette's own last-resort handler re-raises after answering, so that the server logs the
    traceback a second time and closes the connection; here the connection stays usable."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except ClientDisconnect:
            # Gone before its body was whole (or cut off by the body timeout): nobody to answer,
            # and nothing was changed, as bodies are read before any change.
            return
        except Exception as exc:
            if started:
                raise
            response = internal_error(Request(scope), exc)
            await response(scope, receive, send)


class CatchUp:
    """On a state shared by processes, every request first takes up what the others committed:
    an allocation made through one process is found through the next."""

    def __init__(self, app: ASGIApp, state: RedisState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.state.catch_up()
        await self.app(scope, receive, send)


async def unsupported_version(request: Request) -> Response:
    """Code 9 for an ExoBridge path of a version other than v1."""
    version = request.path_params["version"]
    if version == "v1":
        if _allowed_methods(request):
            raise HTTPException(405, "Method Not Allowed")
        raise HTTPException(404, "no such operation")
    raise ExoBridgeError(
        Code.UNSUPPORTED_VERSION, f"API version {version!r} is not supported; use v1"
    )


def create_app(
    settings: Settings | None = None,
    *,
    state: State | None = None,
    store: Store | None = None,
    clock: Clock | None = None,
    seed: int | None = None,
    spec: Spec | None = None,
    callback_transport: httpx.AsyncBaseTransport | None = None,
    tune_gc: bool = True,
    control_token: str | None = None,
    loopback_only: bool = False,
) -> Starlette:
    """The mock, on the given settings (the embedded default when none).

    `state` is where it keeps everything (`State.open(path)` for a state file; memory when
    none); `store` replaces the allocations' store of a memory state. `tune_gc` keeps the cycle
    collector off the long-lived state once the app is served (see `gc_tuning`); code that runs
    the app inside another program's process turns it off. The app closes the state when it
    stops. With `control_token`, every `/_mock/` request must carry it (`routes/guard.py`).
    With `loopback_only` (served on a loopback address), requests naming another host are
    refused; `/_mock/` requests from other web pages always are (`routes/browsers.py`).
    """
    settings = settings or Settings.load()
    spec = spec or Spec()
    clock = clock or Clock()
    state = state or State(allocations=store, log=DeliveryLog(settings.callbacks.retention))
    ids = IdSource(seed, stream=state.starts)
    dispatcher = CallbackDispatcher(
        settings,
        spec.callback_schemas,
        clock,
        ids,
        log=state.log,
        transport=callback_transport,
    )
    backend = Backend(settings, state, dispatcher, clock, ids)
    context = ApiContext(settings=settings, spec=spec, backend=backend)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await dispatcher.start()
        if tune_gc:
            gc_tuning.install()
        tasks = [asyncio.create_task(_tick_when_due(backend))]
        if isinstance(state, RedisState):
            tasks.append(asyncio.create_task(_keep_lease(state, dispatcher)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await dispatcher.stop()
            if isinstance(state, RedisState):
                await state.close_async()
            state.close()

    app = Starlette(
        routes=[
            *greenpin.routes,
            *greenvn.routes,
            *calls.routes,
            *classic.routes,
            *control.routes,
            *simulator.routes,
            *calls.control_routes,
            *dashboard.routes,
            Route("/{version}/tenants/{rest:path}", unsupported_version,
                  methods=["GET", "POST", "PUT", "DELETE"]),
        ],
        exception_handlers={
            ExoBridgeError: exobridge_error,
            CallsApiError: calls_api_error,
            CallRefused: call_refused,
            control.ControlError: control.control_error,
            HTTPException: http_error,
        },
        middleware=[
            Middleware(BrowserGuard, loopback_only=loopback_only),
            Middleware(ControlGuard, token=control_token),
            Middleware(InternalErrors),
            *([Middleware(CatchUp, state=state)] if isinstance(state, RedisState) else []),
        ],
        lifespan=lifespan,
    )
    app.state.context = context
    app.state.backend = backend
    app.state.dispatcher = dispatcher
    app.state.settings = settings
    return app


async def _tick_when_due(backend: Backend) -> None:
    """Moves calls on and deallocates allocations as their time passes on the clock, without a
    request to wake it."""
    while True:
        try:
            backend.tick()
        except Exception:  # keep the schedule alive; the defect is in the log
            logger.exception("scheduled calls or deallocation failed")
        await asyncio.sleep(DEALLOCATION_TICK_SECONDS)


async def _keep_lease(state: RedisState, dispatcher: CallbackDispatcher) -> None:
    """On a shared state: renews this process's hold on the callbacks it sends, and takes up
    those of processes that stopped renewing theirs."""
    while True:
        try:
            orphans = state.take_orphans()  # renews this process's lease too
            if orphans:
                logger.warning("sending %d callbacks of a process that stopped", len(orphans))
                dispatcher.dispatch(orphans)
        except Exception:  # the store may come back; the next round tries again
            logger.exception("renewing the lease on the shared state failed")
        await asyncio.sleep(state.lease_seconds / 3)
