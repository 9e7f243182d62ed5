"""A webhook handler ready for the provider's callbacks, as a small Starlette app.

    HANDLER_SECRET=whsec_... uvicorn examples.handlers.correct:app --port 9000

- `POST /callbacks/{event}` stores each callback once and answers 200 at once: a delivery seen
  before (the same `webhook-id`, or the same body when unsigned) is answered 200 again and not
  stored twice; members it does not use are ignored; slow work (fetching a recording) would be
  queued, never done before answering.
- With a secret, every delivery must carry a valid Standard Webhooks signature of a timestamp
  within 5 minutes (401 otherwise).
- `GET /connect` answers the programmable Connect applet with JSON that connects the caller to
  the agents, skipping the one just dialled.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

EVENTS = (
    "call_completed",
    "click_to_call_status",
    "deallocation",
    "verification_failed",
    "verification_succeeded",
    "voice_message_status",
)
# Standard Webhooks' tolerance: an older (or future) timestamp is a replay.
TOLERANCE_SECONDS = 300
AGENTS = ("+919876500101", "+919876500102", "sip:desk-bengaluru")


class CallbackHandler:
    def __init__(self, secret: str | None = None) -> None:
        self.secret = secret
        # What a database table with a unique key would hold: one row per delivery.
        self.stored: dict[str, tuple[str, dict[str, Any]]] = {}

    # -- callbacks -------------------------------------------------------------------------------

    async def receive(self, request: Request) -> Response:
        event = request.path_params["event"]
        if event not in EVENTS:
            return JSONResponse({"error": f"no such event {event!r}"}, status_code=404)
        body = await request.body()
        if self.secret is not None and not self.verify(request, body):
            return JSONResponse({"error": "bad or missing signature"}, status_code=401)
        try:
            payload = json.loads(body)
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, status_code=400)
        if not isinstance(payload, dict):
            return JSONResponse({"error": "the body is not a JSON object"}, status_code=400)
        refusal = self.refusal(event, payload)
        if refusal is not None:
            return JSONResponse({"error": refusal}, status_code=422)
        key = request.headers.get("webhook-id") or hashlib.sha256(body).hexdigest()
        await self.before_answer(event, payload)
        return self.store(key, event, payload)

    def verify(self, request: Request, body: bytes) -> bool:
        assert self.secret is not None
        message_id = request.headers.get("webhook-id", "")
        timestamp = request.headers.get("webhook-timestamp", "")
        signatures = request.headers.get("webhook-signature", "")
        if not (message_id and timestamp.isdigit() and signatures):
            return False
        if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
            return False
        key = base64.b64decode(self.secret.removeprefix("whsec_"))
        signed = f"{message_id}.{timestamp}.".encode() + body
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        # The header may carry several signatures (during a secret's rotation), space-separated.
        return any(
            hmac.compare_digest(expected, given.removeprefix("v1,"))
            for given in signatures.split()
            if given.startswith("v1,")
        )

    def refusal(self, event: str, payload: dict[str, Any]) -> str | None:
        """Why the payload cannot be used; members this handler does not use are no reason."""
        return None

    async def before_answer(self, event: str, payload: dict[str, Any]) -> None:
        """Nothing slow happens before the answer: a recording would be fetched by a queue."""

    def store(self, key: str, event: str, payload: dict[str, Any]) -> Response:
        # A redelivery is answered like the first delivery, so the provider stops sending it.
        self.stored.setdefault(key, (event, payload))
        return JSONResponse({"received": True})

    # -- the Connect applet ----------------------------------------------------------------------

    async def connect(self, request: Request) -> Response:
        return JSONResponse(self.connect_answer(dict(request.query_params)))

    def connect_answer(self, query: dict[str, str]) -> dict[str, Any]:
        dialled = query.get("DialWhomNumber", "")
        agents = [a for a in AGENTS if not dialled or not a.endswith(dialled.lstrip("0"))]
        return {
            "destination": [{"contact_uri": agent} for agent in agents],
            "fetch_after_attempt": True,
            "state_management": True,
            "sticky_agent": True,
            "max_ringing_duration": 30,
            "max_conversation_duration": 900,
            "music_on_hold": {"type": "default_tone"},
            "recording": {"record": True, "channels": "dual"},
            "start_call_playback": {"type": "text", "value": "Connecting a customer call."},
        }

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/callbacks/{event}", self.receive, methods=["POST"]),
            Route("/connect", self.connect, methods=["GET"]),
        ])


app = CallbackHandler(secret=os.environ.get("HANDLER_SECRET") or None).app()
