"""Voice call routes: click-to-call and call details (v3), and the voice APIs' errors.

`/v3/accounts/{account_sid}/calls[/{call_sid}[/legs]]`; the classic v1 paths are in
`routes/classic.py`. The account SID is the tenant id and the credentials are the tenant's, as
for ExoBridge; `ApiContext.begin` checks them.

Errors of these paths have envelopes of their own: the v3 one (`CallErrorResponse`) and the v1
`RestException`. The domain raises `CallsApiError`; the ExoBridge errors raised on the way in
(credentials, faults, the body and query checks) are translated by `calls_error`, which the app's
error handlers call for these paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..callbacks.urls import url_problem
from ..domain.call_model import (
    DEFAULT_ATTEMPT_TIME_OUT,
    DEFAULT_MAX_TIME_LIMIT,
    CallRequest,
    invalid_body,
)
from ..domain.call_views import call_details, leg_details
from ..errors import (
    BadCallQuery,
    CallNotFound,
    CallRefused,
    CallsApiError,
    ExoBridgeError,
    InvalidCallRequest,
)
from ..spec import Spec
from .context import context
from .control import ControlError
from .envelopes import Envelope, answers_in, envelope_of
from .requests import BASIC_CHALLENGE

# The documented refusal of a body that fails parsing or validation.
INVALID_BODY_CODE = 10725
INVALID_BODY_MESSAGE = "Invalid request body,failed parsing"
# The `message` of the v3 errors that are not the documented 10725, by HTTP status.
MESSAGES = {
    401: "Authentication failed",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Internal server error",
}



# How each refusal of the calls domain is answered: HTTP status, code, message.
REFUSALS: dict[type[CallRefused], tuple[int, int, str]] = {
    InvalidCallRequest: (400, INVALID_BODY_CODE, INVALID_BODY_MESSAGE),
    BadCallQuery: (400, 400, "Bad request"),
    CallNotFound: (404, 404, MESSAGES[404]),
}


def refusal(error: CallRefused) -> CallsApiError:
    """A refusal of the calls domain as the voice APIs answer it."""
    status, code, message = REFUSALS[type(error)]
    return CallsApiError(status, code, message, error.description)


def calls_error(spec: Spec, error: ExoBridgeError, account_sid: str | None = None) -> CallsApiError:
    """An ExoBridge refusal (credentials, fault, body or query check) as the voice APIs give it.

    A body or query that breaks the spec (codes 3, 5, 16, also when oversized) is the documented
    400 with code 10725; the others keep their HTTP status, repeated as the code.
    """
    status = error.status or spec.http_status(error.code)
    if status in (400, 413):
        return refusal(InvalidCallRequest(error.detail or spec.error_codes[error.code].description))
    message = MESSAGES.get(status, spec.error_codes[error.code].description)
    description = error.detail or message
    if status == 403 and account_sid is not None:
        description = f"these credentials are not those of account {account_sid}"
    return CallsApiError(status, status, message, description)


def error_response(
    request: Request, error: CallsApiError, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The v3 error envelope, or the v1 `RestException`, as the route declares."""
    envelope = envelope_of(request.scope)
    if error.http_code == 429:
        headers = {**(headers or {}), "Retry-After": "1"}
    if error.http_code == 401:
        headers = {**(headers or {}), "WWW-Authenticate": BASIC_CHALLENGE}
    if envelope == Envelope.CLASSIC:
        body: dict[str, Any] = {
            "RestException": {
                "Status": error.http_code,
                "Message": error.description or error.message,
            }
        }
        return JSONResponse(body, status_code=error.http_code, headers=headers)
    result: dict[str, Any] = {
        "code": error.http_code,
        "error_data": {
            "code": error.code,
            "description": error.description,
            "message": error.message,
        },
        "status": "failure",
    }
    if envelope != Envelope.CALL_LEGS:
        # The legs answer has no `call_details`, not even in its errors.
        result["call_details"] = None
    body = {
        "request_id": context(request).backend.ids.request_id(),
        "method": request.method,
        "http_code": error.http_code,
        "metadata": None,
        "response": result,
    }
    return JSONResponse(body, status_code=error.http_code, headers=headers)


def _success(request: Request, result: dict[str, Any]) -> JSONResponse:
    return JSONResponse(
        {
            "request_id": context(request).backend.ids.request_id(),
            "method": request.method,
            "http_code": 200,
            "metadata": None,
            "response": {"code": 200, "error_data": None, "status": "success", **result},
        }
    )


def call_request(body: dict[str, Any], allowed_hosts: Sequence[str] = ()) -> CallRequest:
    """A checked createCall body as the domain's request; 10725 for a status callback URL the
    mock could not, or may not, request."""
    for entry in body.get("status_callback", ()):
        problem = url_problem(entry["url"], allowed_hosts)
        if problem is not None:
            raise invalid_body(f"status_callback {entry['event']}: {problem}")
    recording = body.get("recording") or {}
    return CallRequest(
        from_contact=body["from"]["contact_uri"],
        to_contact=body["to"]["contact_uri"],
        virtual_number=body["virtual_number"],
        state_management=body["from"].get("state_management", False),
        record=recording.get("record", False),
        channels=recording.get("channels", "single"),
        max_time_limit=body.get("max_time_limit", DEFAULT_MAX_TIME_LIMIT),
        attempt_time_out=body.get("attempt_time_out", DEFAULT_ATTEMPT_TIME_OUT),
        custom_field=body.get("custom_field"),
        status_callbacks={e["event"]: e["url"] for e in body.get("status_callback", ())},
    )


# -- v3 --------------------------------------------------------------------------------------------


async def create_call(request: Request) -> JSONResponse:
    ctx = context(request)
    tenant = ctx.begin(request, request.path_params["account_sid"], calls=True)
    body = await ctx.body(request, "createCall")
    call = ctx.backend.calls.create(
        tenant, call_request(body, ctx.settings.callbacks.allowed_hosts)
    )
    return _success(request, {"call_details": call_details(call)})


async def get_call(request: Request) -> JSONResponse:
    ctx = context(request)
    tenant = ctx.begin(request, request.path_params["account_sid"], calls=True)
    call = ctx.backend.calls.get(tenant, request.path_params["call_sid"])
    return _success(request, {"call_details": call_details(call)})


async def get_call_legs(request: Request) -> JSONResponse:
    ctx = context(request)
    tenant = ctx.begin(request, request.path_params["account_sid"], calls=True)
    call = ctx.backend.calls.get(tenant, request.path_params["call_sid"])
    return _success(request, {"legs": [leg_details(leg) for leg in call.legs]})


# -- the mock's control of calls (`/_mock/`, documented in mock-control.yaml) ----------------------


async def hang_up(request: Request) -> JSONResponse:
    backend = context(request).backend
    backend.tick()
    calls = backend.calls
    sid = request.path_params["call_sid"]
    call = calls.find(sid)
    if call is None:
        raise ControlError(f"no call {sid!r}", 404)
    if not call.active:
        raise ControlError(f"call {sid} is over already ({call.status})", 409)
    call = calls.hang_up(call)
    return JSONResponse(
        {"sid": call.sid, "account_sid": call.tenant_id, "state": call.state, "status": call.status}
    )


routes = [
    Route("/v3/accounts/{account_sid}/calls", answers_in(Envelope.CALLS)(create_call),
          methods=["POST"]),
    Route("/v3/accounts/{account_sid}/calls/{call_sid}", answers_in(Envelope.CALLS)(get_call),
          methods=["GET"]),
    Route("/v3/accounts/{account_sid}/calls/{call_sid}/legs",
          answers_in(Envelope.CALL_LEGS)(get_call_legs), methods=["GET"]),
]

control_routes = [
    Route("/_mock/calls/{call_sid}/hangup", hang_up, methods=["POST"]),
]
