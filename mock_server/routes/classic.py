"""The classic v1 Calls API, as the classic clients (the provider's SDKs) call it.

`/v1/Accounts/{account_sid}/Calls`, `.../Calls/{call_sid}` and the form-encoded
`.../Calls/connect`, each also with the `.json` suffix the classic clients add; the credentials
may be `<api key>:<token>` or `<account sid>:<token>`. Any other resource under
`/v1/Accounts/{account_sid}/` (SMS, numbers, ...) is outside the contract: a `RestException` 404
that says so. Errors are the v1 `RestException` (`calls.error_response`).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..domain.call_filters import V1Filter
from ..domain.call_model import (
    DEFAULT_ATTEMPT_TIME_OUT,
    DEFAULT_MAX_TIME_LIMIT,
    CallRecord,
    CallRequest,
)
from ..domain.call_views import v1_call
from ..domain.classic import place_flow_call, v1_details
from ..errors import CallRefused, CallsApiError
from ..settings import Tenant
from ..spec import SchemaCheck, Spec
from .calls import MESSAGES
from .context import context
from .envelopes import V1_PREFIX, Envelope, answers_in
from .requests import header, read_body

# The filters of listCalls, in the order the paging URIs repeat them.
V1_LIST_PARAMETERS = ("Sid", "DateCreated", "To", "From", "Status", "Duration", "Price",
                      "Direction", "PhoneNumber", "SortBy")
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
# The connect form's fields read as integers, and the list field sent repeated or indexed.
FORM_INTEGERS = ("TimeLimit", "TimeOut")
FORM_EVENTS = re.compile(r"StatusCallbackEvents(\[[0-9]*\])?")
CLASSIC_NAMES = (("from.contact_uri", "From"), ("to.contact_uri", "To"),
                 ("virtual_number", "CallerId"))
CONNECT_NAMES = ("connect", "connect.json")
JSON_SUFFIX = ".json"
# The resources of the contract, whatever the method: another method on them is a 405.
CONTRACT_RESOURCES = re.compile(r"Calls(\.json)?|Calls/[^/]+")
# The catch-all's template, which `app._allowed_methods` leaves out when it lists methods.
OUTSIDE_CONTRACT = "/v1/Accounts/{account_sid}/{outside_contract:path}"


def _begin(request: Request) -> Tenant:
    return context(request).begin(request, request.path_params["account_sid"], calls=True,
                                  classic=True)


@answers_in(Envelope.CLASSIC)
async def list_calls(request: Request) -> JSONResponse:
    ctx = context(request)
    account = request.path_params["account_sid"]
    tenant = _begin(request)
    query = ctx.query_check("listCalls").parse(request.query_params)
    page_size = query["PageSize"]
    page = ctx.backend.calls.list_v1(
        tenant,
        V1Filter.from_query(query),
        page_size=page_size,
        ascending=query.get("SortBy") == "DateCreated:asc",
        before=query.get("Before"),
        after=query.get("After"),
    )
    # The paging URIs repeat the query's filters (not the parameters the API ignores).
    base = {k: request.query_params[k] for k in V1_LIST_PARAMETERS if k in request.query_params}
    base["PageSize"] = str(page_size)

    def uri(**cursor: str) -> str:
        query_string = urlencode({**base, **cursor}, quote_via=quote, safe=":;,")
        return f"{V1_PREFIX}{account}/Calls?{query_string}"

    return JSONResponse(
        {
            "Metadata": {
                "Total": page.total,
                "PageSize": page_size,
                "FirstPageUri": uri(),
                "PrevPageUri": uri(Before=page.before) if page.before else None,
                "NextPageUri": uri(After=page.after) if page.after else None,
            },
            "Calls": [v1_call(c) for c in page.calls],
        }
    )


@cache
def _connect_check(spec: Spec) -> SchemaCheck:
    return spec.component_check("V1ConnectCallRequest")


async def _read_form(request: Request, max_bytes: int) -> dict[str, Any]:
    """The form body as the connect schema sees it: text fields, integers, the event list."""
    media_type = (header(request, b"content-type") or "").split(";")[0].strip().lower()
    if media_type != FORM_MEDIA_TYPE:
        raise CallsApiError(415, 415, MESSAGES[415],
                            f"the body must be {FORM_MEDIA_TYPE}, not {media_type or 'untyped'}")
    raw = await read_body(request, max_bytes)
    form: dict[str, Any] = {}
    events: list[str] = []
    text = raw.decode("utf-8", errors="replace")
    for name, value in parse_qsl(text, keep_blank_values=True):
        if FORM_EVENTS.fullmatch(name):
            events.append(value)
        else:
            form[name] = value
    if events:
        form["StatusCallbackEvents"] = events
    for name in FORM_INTEGERS:
        given = form.get(name)
        if isinstance(given, str) and given.isascii() and given.isdigit() and len(given) < 10:
            form[name] = int(given)
    return form


@answers_in(Envelope.CLASSIC)
async def connect_call(request: Request) -> JSONResponse:
    """The classic connect: `From` first, then `To` through `CallerId` (a click-to-call), or
    `From` to the flow `Url` names."""
    ctx = context(request)
    tenant = _begin(request)
    form = await _read_form(request, ctx.settings.max_body_bytes)
    _connect_check(ctx.spec).check(form)
    time_limit = form.get("TimeLimit", DEFAULT_MAX_TIME_LIMIT)
    time_out = form.get("TimeOut", DEFAULT_ATTEMPT_TIME_OUT)
    call: CallRecord
    if "Url" in form:
        call = place_flow_call(
            ctx.backend, tenant, from_contact=form["From"], caller_id=form["CallerId"],
            flow_url=form["Url"], time_limit=time_limit, time_out=time_out,
            custom_field=form.get("CustomField"),
        )
        return JSONResponse({"Call": v1_call(call)})
    call_request = CallRequest(
        from_contact=form["From"],
        to_contact=form["To"],
        virtual_number=form["CallerId"],
        record=form.get("Record") == "true",
        channels=form.get("RecordingChannels", "single"),
        max_time_limit=time_limit,
        attempt_time_out=time_out,
        custom_field=form.get("CustomField"),
    )
    try:
        call = ctx.backend.calls.create(tenant, call_request)
    except CallRefused as exc:
        # The domain names the v3 members; the classic client sent the form's fields.
        description = exc.description
        for v3_name, field_name in CLASSIC_NAMES:
            description = description.replace(v3_name, field_name)
        raise type(exc)(description) from None
    return JSONResponse({"Call": v1_call(call)})


@answers_in(Envelope.CLASSIC)
async def get_call(request: Request) -> JSONResponse:
    sid = request.path_params["call_sid"]
    if sid in CONNECT_NAMES:
        # The concrete path of `connectCallV1`, which only POSTs.
        raise HTTPException(405, "Method Not Allowed")
    ctx = context(request)
    tenant = _begin(request)
    query = ctx.query_check("getCallV1").parse(request.query_params)
    call = ctx.backend.calls.get(tenant, sid.removesuffix(JSON_SUFFIX))
    body = v1_call(call)
    if query.get("details"):
        body["Details"] = v1_details(call)
    return JSONResponse({"Call": body})


@answers_in(Envelope.CLASSIC)
async def outside_contract(request: Request) -> JSONResponse:
    """A 404 that names what the mock serves, for the classic resources it does not."""
    resource = request.path_params["outside_contract"]
    if CONTRACT_RESOURCES.fullmatch(resource):
        raise HTTPException(405, "Method Not Allowed")
    account = request.path_params["account_sid"]
    raise CallsApiError(
        404, 404, MESSAGES[404],
        f"/v1/Accounts/{account}/{resource} is not part of this mock's contract; of the classic "
        "API it serves Calls, Calls/<CallSid> and Calls/connect (each also with .json)",
    )


ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

routes = [
    Route("/v1/Accounts/{account_sid}/Calls", list_calls, methods=["GET"]),
    Route("/v1/Accounts/{account_sid}/Calls.json", list_calls, methods=["GET"]),
    Route("/v1/Accounts/{account_sid}/Calls/connect", connect_call, methods=["POST"]),
    Route("/v1/Accounts/{account_sid}/Calls/connect.json", connect_call, methods=["POST"]),
    Route("/v1/Accounts/{account_sid}/Calls/{call_sid}", get_call, methods=["GET"]),
    Route(OUTSIDE_CONTRACT, outside_contract, methods=ANY_METHOD),
]
