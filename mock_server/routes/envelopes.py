"""The documented answer shapes: allocations as JSON, and every error in its envelope.

Errors are mapped to HTTP in this one place: the HTTP status of an ExoBridge code comes from the
spec's code table, the envelope from the path (GreenVN answers errors as a one-item list).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from ..clock import format_local
from ..domain.allocations import Allocation
from ..errors import ExoBridgeError
from ..spec import Spec


def greenpin_party(
    numbers: tuple[str, ...], vns: tuple[str, ...], pins: tuple[str, ...]
) -> dict[str, Any]:
    body: dict[str, Any] = {"vns": list(vns), "numbers": list(numbers)}
    if pins:
        body["pin"] = pins[0]
    return body


def greenpin_data(allocation: Allocation) -> dict[str, Any]:
    return {
        "transaction_id": allocation.ref,
        "greenpin_id": allocation.id,
        "a": greenpin_party(allocation.a_numbers, allocation.a_vns, allocation.a_pins),
        "b": greenpin_party(allocation.b_numbers, allocation.b_vns, allocation.b_pins),
        "usage": allocation.usage,
        "state": allocation.state,
        "deallocation_time": format_local(allocation.deallocated_at or allocation.deallocate_at),
    }


def greenpin_success(allocation: Allocation, **extra: Any) -> dict[str, Any]:
    return {
        **extra,
        "success": True,
        "status": 200,
        "code": None,
        "message": None,
        "data": greenpin_data(allocation),
    }


def greenvn_data(allocation: Allocation) -> dict[str, Any]:
    body: dict[str, Any] = {
        "connection_id": allocation.ref,
        "aparty_numbers": list(allocation.a_numbers),
        "bparty_numbers": list(allocation.b_numbers),
        "usage": allocation.usage,
        "state": allocation.state,
        "green_vn": allocation.a_vns[0],
        "greenvn_id": allocation.id,
    }
    if allocation.flow_id is not None:
        body["flow_id"] = allocation.flow_id
    return body


def greenvn_success(allocation: Allocation) -> dict[str, Any]:
    return {"success": True, "status": 200, "data": greenvn_data(allocation)}


def error_status(spec: Spec, error: ExoBridgeError) -> int:
    return error.status or spec.http_status(error.code)


def error_body(spec: Spec, error: ExoBridgeError) -> dict[str, Any]:
    """The documented error envelope; `message` is the code's description, then the detail."""
    title = spec.error_codes[error.code].description
    message = f"{title}: {error.detail}" if error.detail else title
    return {
        "success": False,
        "status": error_status(spec, error),
        "code": error.code,
        "message": message,
        "data": None,
    }


class Envelope(StrEnum):
    """The answer shapes of the APIs the mock serves; each route declares its own
    (`answers_in`), and the one exception handler of each error type renders by it."""

    EXOBRIDGE = "exobridge"  # {success, status, code, message, data}
    GREENVN = "greenvn"  # the same, as a one-item list
    CALLS = "calls"  # v3: {request_id, method, http_code, metadata, response}
    CALL_LEGS = "call-legs"  # v3, without `call_details` in the response
    CLASSIC = "classic"  # v1: {"RestException": {Status, Message}}
    CONTROL = "control"  # the mock's own: {"error"}


V3_PREFIX = "/v3/accounts/"
V1_PREFIX = "/v1/Accounts/"
CONTROL_PREFIX = "/_mock"

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def answers_in(envelope: Envelope) -> Callable[[Endpoint], Endpoint]:
    """Declares the envelope of an endpoint's answers, errors included."""

    def declare(endpoint: Endpoint) -> Endpoint:
        endpoint.envelope = envelope  # type: ignore[attr-defined]
        return endpoint

    return declare


def envelope_of(scope: Mapping[str, Any]) -> Envelope:
    """The envelope the matched route declares; by the path where no route matched (an
    unknown path, or a request refused before routing)."""
    declared = getattr(scope.get("endpoint"), "envelope", None)
    if isinstance(declared, Envelope):
        return declared
    return envelope_by_path(scope.get("path", ""))


def envelope_by_path(path: str) -> Envelope:
    if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
        return Envelope.CONTROL
    if path.startswith(V1_PREFIX):
        return Envelope.CLASSIC
    if path.startswith(V3_PREFIX):
        return Envelope.CALL_LEGS if path.endswith("/legs") else Envelope.CALLS
    return Envelope.GREENVN if "/greenvn" in path else Envelope.EXOBRIDGE
