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
from ..domain.changes import Changeset, RuntimeState
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
    return json.dumps(allocation_object(allocation), separators=(",", ":"))


def allocation_object(allocation: Allocation) -> dict[str, Any]:
    a = allocation
    return {
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
        }


def _strings(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise ValueError("expected a list of strings")
    return tuple(raw)


def decode_allocation(tenant_id: str, allocation_id: str, text: str) -> Allocation:
    return allocation_from(tenant_id, allocation_id, json.loads(text))


def allocation_from(tenant_id: str, allocation_id: str, raw: dict[str, Any]) -> Allocation:
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


def call_object(call: CallRecord) -> dict[str, Any]:
    return dataclasses.asdict(call)


def _leg(raw: dict[str, Any]) -> Leg:
    return Leg(**raw)


def decode_call(text: str) -> CallRecord:
    return call_from(json.loads(text))


def call_from(raw: dict[str, Any]) -> CallRecord:
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


def encode_changeset(changes: Changeset) -> str:
    """A whole unit of work as one JSON text (what a shared store passes between processes)."""
    return json.dumps(
        {
            "now": changes.now,
            "allocations": [
                [tenant_id, allocation_id, allocation_object(a)]
                for (tenant_id, allocation_id), a in changes.allocations.items()
            ],
            "calls": [call_object(c) for c in changes.calls.values()],
            "deliveries": [d.as_json() for d in changes.deliveries],
            "runtime": changes.runtime.as_json() if changes.runtime is not None else None,
            "resets": changes.resets,
        },
        separators=(",", ":"),
    )


def decode_changeset(text: str | bytes) -> Changeset:
    raw = json.loads(text)
    changes = Changeset(now=float(raw["now"]))
    for tenant_id, allocation_id, allocation in raw["allocations"]:
        changes.put(allocation_from(tenant_id, allocation_id, allocation))
    for call in raw["calls"]:
        changes.put_call(call_from(call))
    changes.deliveries = [Delivery.from_json(d) for d in raw["deliveries"]]
    if raw["runtime"] is not None:
        changes.runtime = RuntimeState.from_json(raw["runtime"])
    changes.resets = list(raw["resets"])
    return changes
