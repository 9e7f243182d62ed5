"""Requests refused before they reach a route (their headers too large or too slow, see
`serving.py`), answered in the envelope of the API their path belongs to, without a code of
the documents (none covers them)."""

from __future__ import annotations

import secrets
from typing import Any

from .envelopes import Envelope, envelope_by_path


def refusal_body(method: str, path: str, status: int, message: str) -> Any:
    """The answer's JSON body; `path` is empty when the request line itself was not whole
    (no route has matched: the envelope is the path's)."""
    envelope = envelope_by_path(path)
    if envelope == Envelope.CONTROL:
        return {"error": message}
    if envelope == Envelope.CLASSIC:
        return {"RestException": {"Status": status, "Message": message}}
    if envelope in (Envelope.CALLS, Envelope.CALL_LEGS):
        response: dict[str, Any] = {
            "code": status,
            "error_data": {"code": status, "description": message, "message": message},
            "status": "failure",
        }
        if envelope == Envelope.CALLS:
            response["call_details"] = None
        return {
            # Not from the seeded ids: a refusal shifts no id a seeded run hands out.
            "request_id": secrets.token_hex(16),
            "method": method,
            "http_code": status,
            "metadata": None,
            "response": response,
        }
    body = {"success": False, "status": status, "code": None, "message": message, "data": None}
    return [body] if envelope == Envelope.GREENVN else body
