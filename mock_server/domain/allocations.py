"""Allocations of a tenant's virtual numbers (VNs) to two parties, GreenPin and GreenVN alike.

Both kinds route calls the same way, so they share one model and one routing index: on each VN,
a registered number or a PIN points to exactly one active allocation, and through it to one of
its parties (the numbers of a oneway allocation's B party register nothing: it cannot call).
Numbers are E.164 strings (they start with "+") and PINs are digits, so one key space holds both.
"""

from __future__ import annotations

from dataclasses import dataclass

GREENPIN = "greenpin"
GREENVN = "greenvn"
ACTIVE = "active"
VAULT = "vault"
ONEWAY = "oneway"
TWOWAY = "twoway"


@dataclass(slots=True, eq=False)
class Allocation:
    kind: str
    tenant_id: str
    id: str
    # transaction_id (GreenPin) or connection_id (GreenVN): the client's own identifier.
    ref: str
    # Each party's numbers, the VNs it dials and the PINs strangers enter to join it, kept on the
    # allocation itself rather than in two party objects: a million active allocations then weigh
    # about 130 MB less. Tuples: immutable, shared by copies, smaller than lists.
    a_numbers: tuple[str, ...]
    a_vns: tuple[str, ...]
    a_pins: tuple[str, ...]
    b_numbers: tuple[str, ...]
    b_vns: tuple[str, ...]
    b_pins: tuple[str, ...]
    usage: str
    state: str
    created_at: float
    deallocate_at: float
    deallocated_at: float | None = None
    flow_id: str | None = None

    @property
    def active(self) -> bool:
        return self.state == ACTIVE

    @property
    def a(self) -> Party:
        return Party(self, "a")

    @property
    def b(self) -> Party:
        return Party(self, "b")

    def routes(self) -> list[tuple[str, str]]:
        """(vn, number or PIN) for every way a caller on a VN reaches this allocation. A oneway
        allocation's B party never calls through it, so its numbers claim nothing (they are the
        destinations of `oneway_destinations`); its PINs stay its own, to be refused."""
        b_keys = self.b_pins if self.usage == ONEWAY else self.b_numbers + self.b_pins
        sides = ((self.a_vns, self.a_numbers + self.a_pins), (self.b_vns, b_keys))
        return [(vn, key) for vns, keys in sides for vn in vns for key in keys]

    def oneway_destinations(self) -> list[tuple[str, str]]:
        """(vn, number) for the B party of a oneway allocation: a call from such a number is
        refused, and several oneway allocations may hold the same one."""
        if self.usage != ONEWAY:
            return []
        return [(vn, number) for vn in self.b_vns for number in self.b_numbers]

    def party_reached(self, vn: str, key: str) -> Party | None:
        """The party that a caller from the number `key`, or entering the PIN `key`, reaches on
        the VN (the routing index points at the allocation, this says which side)."""
        if vn in self.a_vns and (key in self.a_numbers or key in self.a_pins):
            return Party(self, "a")
        if vn in self.b_vns and (key in self.b_numbers or key in self.b_pins):
            return Party(self, "b")
        return None

    def copy(self) -> Allocation:
        return Allocation(
            self.kind,
            self.tenant_id,
            self.id,
            self.ref,
            self.a_numbers,
            self.a_vns,
            self.a_pins,
            self.b_numbers,
            self.b_vns,
            self.b_pins,
            self.usage,
            self.state,
            self.created_at,
            self.deallocate_at,
            self.deallocated_at,
            self.flow_id,
        )


class Party:
    """One side of an allocation, `a` or `b`: a view of the allocation's fields for that side,
    which reads and writes through to the allocation."""

    __slots__ = ("allocation", "name")

    def __init__(self, allocation: Allocation, name: str) -> None:
        self.allocation = allocation
        self.name = name

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Party)
            and other.allocation is self.allocation
            and other.name == self.name
        )

    def __hash__(self) -> int:
        return hash((id(self.allocation), self.name))

    def __repr__(self) -> str:
        return (
            f"Party({self.name!r}, numbers={self.numbers}, vns={self.vns}, pins={self.pins})"
        )

    @property
    def numbers(self) -> tuple[str, ...]:
        return self.allocation.a_numbers if self.name == "a" else self.allocation.b_numbers

    @numbers.setter
    def numbers(self, value: tuple[str, ...]) -> None:
        if self.name == "a":
            self.allocation.a_numbers = value
        else:
            self.allocation.b_numbers = value

    @property
    def vns(self) -> tuple[str, ...]:
        return self.allocation.a_vns if self.name == "a" else self.allocation.b_vns

    @vns.setter
    def vns(self, value: tuple[str, ...]) -> None:
        if self.name == "a":
            self.allocation.a_vns = value
        else:
            self.allocation.b_vns = value

    @property
    def pins(self) -> tuple[str, ...]:
        return self.allocation.a_pins if self.name == "a" else self.allocation.b_pins

    @pins.setter
    def pins(self, value: tuple[str, ...]) -> None:
        if self.name == "a":
            self.allocation.a_pins = value
        else:
            self.allocation.b_pins = value

    @property
    def pin_length(self) -> int | None:
        """The length of this party's PINs (None without PINs)."""
        pins = self.pins
        return len(pins[0]) if pins else None

    @property
    def other(self) -> Party:
        return Party(self.allocation, "b" if self.name == "a" else "a")


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
            self.number in alloc.a_numbers or self.number in alloc.b_numbers
        ):
            return False
        if self.vn is not None and not (self.vn in alloc.a_vns or self.vn in alloc.b_vns):
            return False
        if self.created_from is not None and alloc.created_at < self.created_from:
            return False
        return self.created_to is None or alloc.created_at <= self.created_to
