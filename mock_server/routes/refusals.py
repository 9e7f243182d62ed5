"""Requests refused before they reach a route (their headers too large or too slow, see
`serving.py`), answered in the envelope of the API their path belongs to, without a code of
the documents (none covers them)."""

from __future__ import annotations

import secrets
from typing import Any

from .calls import V1_PREFIX, V3_PREFIX
from .envelopes import is_greenvn_path
from .guard import CONTROL_PREFIX


def refusal_body(method: str, path: str, status: int, message: str) -> Any:
    """The answer's JSON body; `path` is empty when the request line itself was not whole."""
    if path.startswith(CONTROL_PREFIX + "/"):
        return {"error": message}
    if path.startswith(V1_PREFIX):
        return {"RestException": {"Status": status, "Message": message}}
    if path.startswith(V3_PREFIX):
        return {
            # Not from the seeded ids: a refusal shifts no id a seeded run hands out.
            "request_id": secrets.token_hex(16),
            "method": method,
            "http_code": status,
            "metadata": None,
            "response": {
                "code": status,
                "error_data": {"code": status, "description": message, "message": message},
                "status": "failure",
                "call_details": None,
            },
        }
    body = {"success": False, "status": status, "code": None, "message": message, "data": None}
    return [body] if is_greenvn_path(path) else body
