"""GreenPin: PIN allocations of the tenant's VNs to an a-party and a b-party."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..clock import parse_local
from ..errors import Code, ExoBridgeError
from ..settings import Tenant
from .allocations import ACTIVE, GREENPIN, Allocation, Party, SearchCriteria
from .changes import StoreUnavailable
from .numbers import normalise_numbers, normalise_vns
from .pins import choose_pin

if TYPE_CHECKING:
    from .backend import Backend

DEFAULT_PIN_LENGTH = 4


# Requests are built once per HTTP request: plain slotted classes, as frozen dataclasses cost a
# few microseconds each to construct.
@dataclass(slots=True)
class PartyRequest:
    numbers: Sequence[str] | None = None
    vns: Sequence[str] | None = None
    pin: str | None = None
    pin_length: int | None = None


@dataclass(slots=True)
class GreenPinRequest:
    """A create or an update, as the spec has already checked it."""

    transaction_id: str | None = None
    a: PartyRequest | None = None
    b: PartyRequest | None = None
    usage: str | None = None
    duration: str | None = None


@dataclass(frozen=True)
class BulkItem:
    """One item of a bulk update: what to change, or why the item was refused before."""

    greenpin_id: str | None
    request: GreenPinRequest | None = None
    error: ExoBridgeError | None = None


class GreenPins:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.store = backend.store

    # -- reading ------------------------------------------------------------------------------

    def get(self, tenant: Tenant, greenpin_id: str) -> Allocation:
        return self.backend.allocation(tenant, GREENPIN, greenpin_id)

    def search(
        self,
        tenant: Tenant,
        *,
        state: str | None = None,
        transaction_id: str | None = None,
        number: str | None = None,
        vn: str | None = None,
        from_date: str | None = None,
        to_date: str | None = None,
        page: int = 1,
        page_size: int = 50,
    ) -> tuple[int, list[Allocation]]:
        created_from = _query_time(from_date, "from_date", end_of_day=False)
        created_to = _query_time(to_date, "to_date", end_of_day=True)
        if created_from is not None and created_to is not None and created_from > created_to:
            raise ExoBridgeError(
                Code.INVALID_DATE_RANGE, f"from_date {from_date} is after to_date {to_date}"
            )
        criteria = SearchCriteria(
            state=state,
            ref=transaction_id,
            number=normalise_numbers([number], "query.number")[0] if number else None,
            vn=normalise_numbers([vn], "query.vn")[0] if vn else None,
            created_from=created_from,
            created_to=created_to,
        )
        return self.store.search(
            tenant.tenant_id, GREENPIN, criteria, (page - 1) * page_size, page_size
        )

    # -- writing ------------------------------------------------------------------------------

    def create(self, tenant: Tenant, request: GreenPinRequest) -> Allocation:
        with self.backend.unit():
            return self._create(tenant, request)

    def _create(self, tenant: Tenant, request: GreenPinRequest) -> Allocation:
        now = self.backend.now()
        assert request.transaction_id is not None, "the spec requires transaction_id"
        assert request.usage is not None, "the spec's default fills usage"
        if self.store.active_by_ref(tenant.tenant_id, GREENPIN, request.transaction_id):
            raise ExoBridgeError(
                Code.ALLOCATION_EXISTS,
                f"transaction_id {request.transaction_id!r} is held by an active allocation"
            )
        a_req = request.a or PartyRequest()
        b_req = request.b or PartyRequest()
        a_numbers = normalise_numbers(a_req.numbers or (), "a.numbers")
        b_numbers = normalise_numbers(b_req.numbers or (), "b.numbers")
        a_vns = normalise_vns(tenant, a_req.vns, "a.vns") if a_req.vns else None
        b_vns = normalise_vns(tenant, b_req.vns, "b.vns") if b_req.vns else None
        # A party without VNs uses the other party's (the spec guarantees one party has them).
        a_vns = a_vns or b_vns or ()
        b_vns = b_vns or a_vns
        _check_parties_apart(a_numbers, b_numbers)
        allocation = Allocation(
            kind=GREENPIN,
            tenant_id=tenant.tenant_id,
            id=self._new_id(tenant),
            ref=request.transaction_id,
            a_numbers=a_numbers,
            a_vns=a_vns,
            a_pins=(),
            b_numbers=b_numbers,
            b_vns=b_vns,
            b_pins=(),
            usage=request.usage,
            state=ACTIVE,
            created_at=now,
            deallocate_at=now + self.backend.lifetime(tenant, request.duration),
        )
        self._assign_pins(tenant, allocation, request, previous=None)
        self.backend.put(allocation)
        return allocation

    def update(self, tenant: Tenant, greenpin_id: str, request: GreenPinRequest) -> Allocation:
        with self.backend.unit():
            return self._update(tenant, greenpin_id, request)

    def _update(self, tenant: Tenant, greenpin_id: str, request: GreenPinRequest) -> Allocation:
        current = self.get(tenant, greenpin_id)
        if not current.active:
            raise ExoBridgeError(Code.ALREADY_DELETED, f"allocation {greenpin_id} was deallocated")
        if request.transaction_id is not None and request.transaction_id != current.ref:
            raise ExoBridgeError(
                Code.BAD_PARAMETERS,
                f"transaction_id cannot change (it is {current.ref!r} for this allocation)"
            )
        updated = current.copy()
        for party, change in ((updated.a, request.a), (updated.b, request.b)):
            if change is None:
                continue
            where = party.name
            if change.numbers is not None:
                party.numbers = normalise_numbers(change.numbers, f"{where}.numbers")
            if change.vns is not None:
                party.vns = normalise_vns(tenant, change.vns, f"{where}.vns")
        _check_parties_apart(updated.a_numbers, updated.b_numbers)
        if request.usage is not None:
            updated.usage = request.usage
        if request.duration is not None:
            updated.deallocate_at = self.backend.now() + self.backend.lifetime(
                tenant, request.duration
            )
        self._assign_pins(tenant, updated, request, previous=current)
        self.backend.put(updated)
        return updated

    def bulk_update(
        self, tenant: Tenant, items: Sequence[BulkItem]
    ) -> list[Allocation | ExoBridgeError]:
        """Applies every item that can be applied, each as a unit of its own; one result per
        item, in order."""
        if len(items) > tenant.bulk_limit:
            raise ExoBridgeError(
                Code.TOO_MANY_IN_BULK,
                f"{len(items)} items, the limit is {tenant.bulk_limit} per request"
            )
        results: list[Allocation | ExoBridgeError] = []
        for item in items:
            if item.error is not None:
                results.append(item.error)
                continue
            assert item.greenpin_id is not None
            assert item.request is not None
            try:
                results.append(self.update(tenant, item.greenpin_id, item.request))
            except ExoBridgeError as exc:
                results.append(exc)
            except StoreUnavailable as exc:
                # This item is not kept; those before it are, and those after it are tried.
                results.append(ExoBridgeError(Code.INTERNAL_ERROR, str(exc)[:200]))
        return results

    def delete(self, tenant: Tenant, greenpin_id: str) -> Allocation:
        return self.backend.delete(tenant, GREENPIN, greenpin_id)

    # -- rules --------------------------------------------------------------------------------

    def _new_id(self, tenant: Tenant) -> str:
        while True:
            candidate = self.backend.ids.uuid()
            if self.store.get(tenant.tenant_id, candidate) is None:
                return candidate

    def _assign_pins(
        self,
        tenant: Tenant,
        allocation: Allocation,
        request: GreenPinRequest,
        previous: Allocation | None,
    ) -> None:
        """Gives each party whose PINs the tenant enables a PIN that is free on all its VNs.

        A given PIN is used as given; a party keeps its PIN through an update unless the update
        gives a PIN or a PIN length; otherwise a PIN of the requested length (4 digits unless
        asked) is generated.
        """
        before_a, before_b = (previous.a, previous.b) if previous else (None, None)
        to_generate: list[tuple[Party, int]] = []
        for party, change, enabled, before in (
            (allocation.a, request.a, tenant.pins_a, before_a),
            (allocation.b, request.b, tenant.pins_b, before_b),
        ):
            if not enabled:
                party.pins = ()
            elif change is not None and change.pin is not None:
                party.pins = (change.pin,)
            elif (
                before is not None and before.pins and (change is None or change.pin_length is None)
            ):
                party.pins = before.pins
            else:
                length = change.pin_length if change is not None else None
                to_generate.append((party, length or DEFAULT_PIN_LENGTH))
        if allocation.a_pins and allocation.a_pins == allocation.b_pins:
            shared = set(allocation.a_vns) & set(allocation.b_vns)
            if shared:
                raise ExoBridgeError(
                    Code.BAD_PARAMETERS,
                    f"a.pin and b.pin are both served on {sorted(shared)[0]} and must differ"
                )
        for party, length in to_generate:

            def free(pin: str, party: Party = party) -> bool:
                return self._pin_free(allocation, party, pin)

            pin = choose_pin(self.backend.ids, length, free)
            if pin is None:
                raise ExoBridgeError(
                    Code.NO_FREE_GREENPIN,
                    f"no free PIN of length {length} on {', '.join(party.vns)} "
                    f"for {party.name}-party",
                )
            party.pins = (pin,)

    def _pin_free(self, allocation: Allocation, party: Party, pin: str) -> bool:
        other = party.other
        for vn in party.vns:
            owner = self.store.route(vn, pin)
            if owner is not None and owner.id != allocation.id:
                return False
            if pin in other.pins and vn in other.vns:
                return False
        return True


def _check_parties_apart(a_numbers: tuple[str, ...], b_numbers: tuple[str, ...]) -> None:
    shared = set(a_numbers) & set(b_numbers)
    if shared:
        raise ExoBridgeError(
            Code.NUMBER_IN_BOTH_PARTIES, f"{sorted(shared)[0]} is in both a.numbers and b.numbers"
        )


def _query_time(text: str | None, name: str, *, end_of_day: bool) -> float | None:
    if text is None:
        return None
    try:
        moment = parse_local(text)
    except ValueError:
        raise ExoBridgeError(
            Code.INVALID_DATE_RANGE, f"query.{name}: {text!r} is not a date"
        ) from None
    if end_of_day and " " not in text:
        moment += 86399
    return moment
