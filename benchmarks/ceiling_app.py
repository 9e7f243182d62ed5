"""The stack's ceiling: bare Starlette on the mock's three GreenPin routes, with fixed answers.

Served by uvicorn exactly as the mock is (uvloop, httptools, one worker, no access log), it
measures what Starlette + uvicorn + JSON cost on this machine with no domain work at all: create
parses the JSON body, every route answers a fixed JSON document of the mock's size and shape.

    uvicorn --app-dir benchmarks ceiling_app:app --loop uvloop --http httptools --no-access-log
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

# The shape the mock answers for a GreenPin create, get or delete (one VN per party), with the
# values of a typical benchmark allocation, so that both servers write about as many bytes.
ANSWER: dict[str, Any] = {
    "success": True,
    "status": 200,
    "code": None,
    "message": None,
    "data": {
        "transaction_id": "wrk-1000123",
        "greenpin_id": "d7ffd4b3-c861-4bda-a024-9cef1ae2f2a8",
        "a": {"vns": ["+916292134464"], "numbers": ["+919801000123"], "pin": "123456"},
        "b": {"vns": ["+916292134464"], "numbers": ["+919901000123"]},
        "usage": "twoway",
        "state": "active",
        "deallocation_time": "2027-05-22 15:50:52",
    },
}


async def create_greenpin(request: Request) -> JSONResponse:
    body = await request.json()
    if not isinstance(body, dict):
        return JSONResponse({"success": False, "status": 400}, status_code=400)
    return JSONResponse(ANSWER)


async def get_greenpin(request: Request) -> JSONResponse:
    return JSONResponse(ANSWER)


async def delete_greenpin(request: Request) -> JSONResponse:
    return JSONResponse(ANSWER)


app = Starlette(
    routes=[
        Route("/v1/tenants/{tenant_id}/greenpin", create_greenpin, methods=["POST"]),
        Route("/v1/tenants/{tenant_id}/greenpin/{greenpin_id}", get_greenpin, methods=["GET"]),
        Route(
            "/v1/tenants/{tenant_id}/greenpin/{greenpin_id}", delete_greenpin, methods=["DELETE"]
        ),
    ]
)
