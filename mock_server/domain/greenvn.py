"""GreenVN: one VN of the tenant's pool, chosen by preferences, mapped to two parties."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import Code, ExoBridgeError
from ..settings import PoolNumber, Tenant
from .allocations import ACTIVE, GREENVN, Allocation
from .numbers import normalise_numbers, normalise_vns
from .regions import region_for_pin_code

if TYPE_CHECKING:
    from .backend import Backend


@dataclass(slots=True)
class Preferences:
    greenvn: str | None = None
    region: str | None = None
    pin_code: str | None = None
    type: str | None = None


@dataclass(slots=True)
class GreenVNRequest:
    connection_id: str
    aparty_numbers: Sequence[str]
    bparty_numbers: Sequence[str]
    usage: str
    aparty_pins: Sequence[str] = ()
    bparty_pins: Sequence[str] = ()
    strictness: bool = False
    preferences: Preferences = field(default_factory=Preferences)
    duration: str | None = None
    flow_id: str | None = None


class GreenVNs:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.store = backend.store

    def get(self, tenant: Tenant, greenvn_id: str) -> Allocation:
        return self.backend.allocation(tenant, GREENVN, greenvn_id)

    def delete(self, tenant: Tenant, greenvn_id: str) -> Allocation:
        return self.backend.delete(tenant, GREENVN, greenvn_id)

    def create(self, tenant: Tenant, request: GreenVNRequest) -> Allocation:
        with self.backend.unit():
            return self._create(tenant, request)

    def _create(self, tenant: Tenant, request: GreenVNRequest) -> Allocation:
        now = self.backend.now()
        if self.store.active_by_ref(tenant.tenant_id, GREENVN, request.connection_id):
            raise ExoBridgeError(
                Code.ALLOCATION_EXISTS,
                f"connection_id {request.connection_id!r} is held by an active allocation"
            )
        a_numbers = normalise_numbers(request.aparty_numbers, "aparty_numbers")
        b_numbers = normalise_numbers(request.bparty_numbers, "bparty_numbers")
        shared = set(a_numbers) & set(b_numbers)
        if shared:
            raise ExoBridgeError(
                Code.NUMBER_IN_BOTH_PARTIES,
                f"{sorted(shared)[0]} is in both aparty_numbers and bparty_numbers"
            )
        a_pins, b_pins = tuple(request.aparty_pins), tuple(request.bparty_pins)
        pins = a_pins + b_pins
        if len(set(pins)) != len(pins):
            raise ExoBridgeError(
                Code.BAD_PARAMETERS, "every PIN of an allocation must differ from the others"
            )
        self._check_flow(tenant, request.flow_id)
        wanted = self._wanted(tenant, request.preferences)
        keys = a_numbers + b_numbers + pins
        candidates = [
            pool_number
            for pool_number in tenant.numbers
            if all(self.store.route(pool_number.number, key) is None for key in keys)
        ]
        vn = _best(candidates, wanted, strict=request.strictness)
        if vn is None:
            raise ExoBridgeError(
                Code.NO_FREE_GREENPIN, _no_vn_reason(wanted, strict=request.strictness)
            )
        lifetime = self.backend.lifetime(tenant, request.duration)
        allocation = Allocation(
            kind=GREENVN,
            tenant_id=tenant.tenant_id,
            id=self._new_id(tenant),
            ref=request.connection_id,
            a_numbers=a_numbers,
            a_vns=(vn.number,),
            a_pins=a_pins,
            b_numbers=b_numbers,
            b_vns=(vn.number,),
            b_pins=b_pins,
            usage=request.usage,
            state=ACTIVE,
            created_at=now,
            deallocate_at=now + lifetime,
            flow_id=request.flow_id,
        )
        self.backend.put(allocation)
        return allocation

    @staticmethod
    def _check_flow(tenant: Tenant, flow_id: str | None) -> None:
        if flow_id is None:
            if len(tenant.flows) > 1:
                raise ExoBridgeError(
                    Code.MANDATORY_PARAMETER_MISSING,
                    f"flow_id is required: tenant {tenant.tenant_id} "
                    f"has {len(tenant.flows)} call flows",
                )
        elif flow_id not in tenant.flows:
            raise ExoBridgeError(
                Code.INVALID_CALL_FLOW,
                f"flow_id {flow_id!r} is not a call flow of tenant {tenant.tenant_id}"
            )

    @staticmethod
    def _wanted(tenant: Tenant, preferences: Preferences) -> dict[str, str]:
        """The preferences as properties of a pool number: number, region, type."""
        wanted: dict[str, str] = {}
        if preferences.greenvn is not None:
            wanted["number"] = normalise_vns(tenant, [preferences.greenvn], "preferences.greenvn")[
                0
            ]
        if preferences.region is not None:
            wanted["region"] = preferences.region
        elif preferences.pin_code is not None:
            region = region_for_pin_code(preferences.pin_code)
            if region is None:
                raise ExoBridgeError(
                    Code.UNSUPPORTED_REGION,
                    f"preferences.pin_code {preferences.pin_code} is in no supported region"
                )
            wanted["region"] = region
        if preferences.type is not None:
            wanted["type"] = preferences.type
        return wanted

    def _new_id(self, tenant: Tenant) -> str:
        while True:
            candidate = str(self.backend.ids.random.randrange(100_000, 1_000_000_000))
            if self.store.get(tenant.tenant_id, candidate) is None:
                return candidate


# Ties between preferences are broken in this order of importance.
_PREFERENCE_ORDER = ("number", "region", "type")


def _best(
    candidates: list[PoolNumber], wanted: dict[str, str], *, strict: bool
) -> PoolNumber | None:
    def met(candidate: PoolNumber) -> tuple[int, ...]:
        hits = tuple(
            int(name in wanted and getattr(candidate, name) == wanted[name])
            for name in _PREFERENCE_ORDER
        )
        return (sum(hits), *hits)

    if strict:
        candidates = [c for c in candidates if met(c)[0] == len(wanted)]
    if not candidates:
        return None
    # max keeps the first of equals: the pool's order decides among VNs that serve as well.
    return max(candidates, key=met)


def _no_vn_reason(wanted: dict[str, str], *, strict: bool) -> str:
    if strict and wanted:
        stated = ", ".join(f"{k} {v}" for k, v in wanted.items())
        return f"no free virtual number meets every preference ({stated}) with strictness true"
    return "no virtual number of the pool is free for these numbers and PINs"
