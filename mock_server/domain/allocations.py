"""Allocations of a tenant's virtual numbers (VNs) to two parties, GreenPin and GreenVN alike.

Both kinds route calls the same way, so they share one model and one routing index: on each VN,
a registered number or a PIN points to exactly one party of one active allocation. Numbers are
E.164 strings (they start with "+") and PINs are digits, so one key space holds both.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

GREENPIN = "greenpin"
GREENVN = "greenvn"
ACTIVE = "active"
VAULT = "vault"
ONEWAY = "oneway"
TWOWAY = "twoway"


@dataclass(slots=True, eq=False)
class Party:
    """One side of an allocation: its numbers, the VNs it dials, the PINs strangers enter."""

    name: str
    # Tuples, not lists: immutable, shared by copies, and smaller (memory per allocation counts).
    numbers: tuple[str, ...]
    vns: tuple[str, ...]
    pins: tuple[str, ...]
    # GreenPin remembers the length PINs of this party are generated with.
    pin_length: int | None = None
    allocation: Allocation = field(init=False, repr=False)

    def copy(self) -> Party:
        return Party(self.name, self.numbers, self.vns, self.pins, self.pin_length)


@dataclass(slots=True, eq=False)
class Allocation:
    kind: str
    tenant_id: str
    id: str
    # transaction_id (GreenPin) or connection_id (GreenVN): the client's own identifier.
    ref: str
    a: Party
    b: Party
    usage: str
    state: str
    created_at: float
    deallocate_at: float
    deallocated_at: float | None = None
    flow_id: str | None = None

    def __post_init__(self) -> None:
        self.a.allocation = self
        self.b.allocation = self

    @property
    def active(self) -> bool:
        return self.state == ACTIVE

    def detach(self) -> None:
        """Breaks the parties' references back to this allocation, once a newer version of it
        has replaced it, so that it is freed at once instead of waiting for the cycle
        collector (which the server keeps away from the long-lived state; see `gc_tuning`)."""
        for party in (self.a, self.b):
            with contextlib.suppress(AttributeError):
                del party.allocation

    def other(self, party: Party) -> Party:
        return self.b if party is self.a else self.a

    def routes(self) -> list[tuple[str, str, Party]]:
        """(vn, number or PIN, party) for every way a caller on a VN reaches this allocation."""
        found = []
        for party in (self.a, self.b):
            keys = party.numbers + party.pins
            for vn in party.vns:
                for key in keys:
                    found.append((vn, key, party))
        return found

    def copy(self) -> Allocation:
        return Allocation(
            self.kind,
            self.tenant_id,
            self.id,
            self.ref,
            self.a.copy(),
            self.b.copy(),
            self.usage,
            self.state,
            self.created_at,
            self.deallocate_at,
            self.deallocated_at,
            self.flow_id,
        )


class RouteTaken(Exception):
    """A number or PIN on a VN that the allocation being saved claims is another's already."""

    def __init__(self, vn: str, key: str, owner: Allocation) -> None:
        super().__init__(f"{key} on {vn} is taken by {owner.id}")
        self.vn = vn
        self.key = key
        self.owner = owner


@dataclass(frozen=True)
class SearchCriteria:
    state: str | None = None
    ref: str | None = None
    number: str | None = None
    vn: str | None = None
    created_from: float | None = None
    created_to: float | None = None

    def matches(self, alloc: Allocation) -> bool:
        if self.state is not None and alloc.state != self.state:
            return False
        if self.ref is not None and alloc.ref != self.ref:
            return False
        if self.number is not None and not (
            self.number in alloc.a.numbers or self.number in alloc.b.numbers
        ):
            return False
        if self.vn is not None and not (self.vn in alloc.a.vns or self.vn in alloc.b.vns):
            return False
        if self.created_from is not None and alloc.created_at < self.created_from:
            return False
        return self.created_to is None or alloc.created_at <= self.created_to
