"""Handlers that look fine in a quick test and fail with the real provider, each in one way.

Each differs from the correct handler (`correct.py`) in one method, and `exomock check-handler`
catches each with a clear line (`uvicorn examples.handlers.broken:fails_on_duplicate` serves one):

- `fails_on_duplicate`: stores with a unique key and answers 500 when a delivery comes again;
- `refuses_unknown_members`: validates against the published schema, which refuses new members;
- `slow_on_recordings`: downloads the recording before answering, past the deadline;
- `accepts_any_signature`: checks that a signature is there, never that it is right;
- `invalid_connect_json`: answers the Connect applet with a Python dict's text, not JSON.

`HANDLER_SECRET` in the environment gives them a signing secret, as for the correct one.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from .correct import CallbackHandler

_SCHEMAS = Path(__file__).resolve().parents[2] / "openapi" / "callbacks"


class FailsOnDuplicate(CallbackHandler):
    def store(self, key: str, event: str, payload: dict[str, Any]) -> Response:
        if key in self.stored:
            return PlainTextResponse(
                "duplicate key value violates unique constraint", status_code=500
            )
        self.stored[key] = (event, payload)
        return JSONResponse({"received": True})


class RefusesUnknownMembers(CallbackHandler):
    def refusal(self, event: str, payload: dict[str, Any]) -> str | None:
        schema = json.loads((_SCHEMAS / f"{event}.schema.json").read_text(encoding="utf-8"))
        errors = [e.message for e in Draft202012Validator(schema).iter_errors(payload)]
        return "; ".join(errors) or None


class SlowOnRecordings(CallbackHandler):
    def __init__(self, secret: str | None = None, fetch_seconds: float = 20.0) -> None:
        super().__init__(secret)
        self.fetch_seconds = fetch_seconds

    async def before_answer(self, event: str, payload: dict[str, Any]) -> None:
        details = payload.get("call_details") or {}
        if payload.get("recording_url") or details.get("recordings"):
            await asyncio.sleep(self.fetch_seconds)  # stands for downloading the recording


class AcceptsAnySignature(CallbackHandler):
    def verify(self, request: Request, body: bytes) -> bool:
        return "webhook-signature" in request.headers


class InvalidConnectJson(CallbackHandler):
    async def connect(self, request: Request) -> Response:
        answer = self.connect_answer(dict(request.query_params))
        return Response(str(answer), media_type="application/json")


_secret = os.environ.get("HANDLER_SECRET") or None
fails_on_duplicate = FailsOnDuplicate(_secret).app()
refuses_unknown_members = RefusesUnknownMembers(_secret).app()
slow_on_recordings = SlowOnRecordings(_secret).app()
accepts_any_signature = AcceptsAnySignature(_secret).app()
invalid_connect_json = InvalidConnectJson(_secret).app()
