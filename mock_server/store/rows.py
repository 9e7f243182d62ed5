"""How allocations, calls and deliveries are written in the state file: plain JSON objects.

Reading checks the shape (unknown or missing members raise), so that a file that is not what
this version wrote is refused rather than half read.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from ..domain.allocations import Allocation
from ..domain.call_model import CallRecord, Leg, Script
from ..domain.deliveries import Delivery


def _party(numbers: tuple[str, ...], vns: tuple[str, ...], pins: tuple[str, ...]) -> Any:
    return {
        "numbers": numbers,
        "vns": vns,
        "pins": pins,
        # Read by versions that stored it; this one derives it from the PINs.
        "pin_length": len(pins[0]) if pins else None,
    }


def encode_allocation(allocation: Allocation) -> str:
    a = allocation
    return json.dumps(
        {
            "kind": a.kind,
            "ref": a.ref,
            "a": _party(a.a_numbers, a.a_vns, a.a_pins),
            "b": _party(a.b_numbers, a.b_vns, a.b_pins),
            "usage": a.usage,
            "state": a.state,
            "created_at": a.created_at,
            "deallocate_at": a.deallocate_at,
            "deallocated_at": a.deallocated_at,
            "flow_id": a.flow_id,
        },
        separators=(",", ":"),
    )


def _strings(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise ValueError("expected a list of strings")
    return tuple(raw)


def decode_allocation(tenant_id: str, allocation_id: str, text: str) -> Allocation:
    raw = json.loads(text)
    a, b = raw["a"], raw["b"]
    allocation = Allocation(
        kind=raw["kind"],
        tenant_id=tenant_id,
        id=allocation_id,
        ref=raw["ref"],
        a_numbers=_strings(a["numbers"]),
        a_vns=_strings(a["vns"]),
        a_pins=_strings(a["pins"]),
        b_numbers=_strings(b["numbers"]),
        b_vns=_strings(b["vns"]),
        b_pins=_strings(b["pins"]),
        usage=raw["usage"],
        state=raw["state"],
        created_at=float(raw["created_at"]),
        deallocate_at=float(raw["deallocate_at"]),
        deallocated_at=raw["deallocated_at"],
        flow_id=raw["flow_id"],
    )
    if not all(isinstance(v, str) for v in (allocation.kind, allocation.ref, allocation.state)):
        raise ValueError("kind, ref and state must be strings")
    return allocation


def encode_call(call: CallRecord) -> str:
    return json.dumps(dataclasses.asdict(call), separators=(",", ":"))


def _leg(raw: dict[str, Any]) -> Leg:
    return Leg(**raw)


def decode_call(text: str) -> CallRecord:
    raw = json.loads(text)
    raw["legs"] = [_leg(leg) for leg in raw["legs"]]
    script = raw.get("script")
    if script is not None:
        script["legs"] = [_leg(leg) for leg in script["legs"]]
        raw["script"] = Script(**script)
    return CallRecord(**raw)


def encode_delivery(delivery: Delivery) -> str:
    return json.dumps(delivery.as_json(), separators=(",", ":"))


def decode_delivery(text: str) -> Delivery:
    return Delivery.from_json(json.loads(text))
