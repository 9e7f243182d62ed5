"""What every route needs: the backend, the spec's compiled checks, credentials."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..domain.backend import Backend
from ..settings import Settings, Tenant
from ..spec import BodyCheck, QueryCheck, Spec
from .envelopes import Envelope, answers_in
from .requests import Credentials, header, read_json


@dataclass
class ApiContext:
    settings: Settings
    spec: Spec
    backend: Backend
    credentials: Credentials = field(init=False)

    def __post_init__(self) -> None:
        self.credentials = Credentials(self.settings)
        # Compiled once per operation, on first use.
        self.body_check = cache(self._body_check)
        self.query_check = cache(self._query_check)

    def _body_check(self, operation_id: str) -> BodyCheck:
        return self.spec.body_check(operation_id)

    def _query_check(self, operation_id: str) -> QueryCheck:
        return self.spec.query_check(operation_id)

    def begin(
        self, request: Request, tenant_id: str, *, calls: bool = False, classic: bool = False
    ) -> Tenant:
        """The start of every provider request: faults, what the clock made due (deallocations;
        calls' next steps too for the voice APIs), then credentials (`classic`: the v1 paths,
        which also take the account SID as the user)."""
        self.backend.take_fault()
        if calls:
            self.backend.tick()
        else:
            self.backend.deallocate_due()
        return self.credentials.authorise(
            header(request, b"authorization"), tenant_id, account_sid_user=classic
        )

    async def body(self, request: Request, operation_id: str) -> Any:
        """The request's JSON body, checked against the operation's schema, with the spec's
        defaults for the members it leaves out."""
        body = await read_json(request, self.settings.max_body_bytes)
        check = self.body_check(operation_id)
        check.check(body)
        return check.with_defaults(body)


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.context
    return ctx


Handler = Callable[[Request], Awaitable[Response]]


def route(path: str, envelope: Envelope, **handlers: Handler) -> Route:
    """One route for a path, dispatching on the method: Starlette then matches each request
    against one route per path instead of one per operation. Its answers, errors included, come
    in `envelope`."""
    if "GET" in handlers:
        handlers.setdefault("HEAD", handlers["GET"])

    async def dispatch(request: Request) -> Response:
        return await handlers[request.method](request)

    return Route(path, answers_in(envelope)(dispatch), methods=list(handlers))
