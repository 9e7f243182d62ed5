"""The v1 list of calls: its filters and pages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..clock import parse_local
from ..errors import BadCallQuery
from ..numbers import InvalidNumber, to_e164

if TYPE_CHECKING:
    pass
from .call_model import CallRecord


def _list(raw: str | None) -> frozenset[str] | None:
    return None if raw is None else frozenset(v for v in raw.split(",") if v)


def _numbers(raw: str | None, name: str) -> frozenset[str] | None:
    values = _list(raw)
    if values is None:
        return None
    try:
        return frozenset(to_e164(v) for v in values)
    except InvalidNumber as exc:
        raise BadCallQuery(f"{name}: {exc}") from None


def _bounds(raw: str | None, parse: Any, name: str) -> tuple[Any, Any]:
    """(gte, lte) of a `gte:x;lte:y` filter; None where a side is not given."""
    low = high = None
    for part in (raw or "").split(";"):
        if not part:
            continue
        op, _, value = part.partition(":")
        try:
            bound = parse(value)
        except (ValueError, ArithmeticError):
            raise BadCallQuery(f"{name}: {value!r} is not a valid bound") from None
        if op == "gte":
            low = bound
        else:
            high = bound
    return low, high


def _within(value: Any, bounds: tuple[Any, Any]) -> bool:
    low, high = bounds
    if low is None and high is None:
        return True
    if value is None:
        return False
    return (low is None or value >= low) and (high is None or value <= high)


@dataclass(frozen=True)
class V1Filter:
    """The filters of `listCalls`; every one given must match (list filters: any value)."""

    sids: frozenset[str] | None = None
    created: tuple[float | None, float | None] = (None, None)
    to: frozenset[str] | None = None
    from_: frozenset[str] | None = None
    statuses: frozenset[str] | None = None
    duration: tuple[int | None, int | None] = (None, None)
    price: tuple[Decimal | None, Decimal | None] = (None, None)
    directions: frozenset[str] | None = None
    phone_numbers: frozenset[str] | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, Any]) -> V1Filter:
        """From a query already checked against the spec's shapes."""
        return cls(
            sids=_list(query.get("Sid")),
            created=_bounds(query.get("DateCreated"), parse_local, "DateCreated"),
            to=_numbers(query.get("To"), "To"),
            from_=_numbers(query.get("From"), "From"),
            statuses=_list(query.get("Status")),
            duration=_bounds(query.get("Duration"), int, "Duration"),
            price=_bounds(query.get("Price"), Decimal, "Price"),
            directions=_list(query.get("Direction")),
            phone_numbers=_numbers(query.get("PhoneNumber"), "PhoneNumber"),
        )

    def matches(self, call: CallRecord) -> bool:
        return (
            (self.sids is None or call.sid in self.sids)
            and _within(call.created_at, self.created)
            and (self.to is None or call.to_number in self.to)
            and (self.from_ is None or call.from_number in self.from_)
            and (self.statuses is None or call.v1_status in self.statuses)
            and _within(call.total_duration, self.duration)
            and _within(call.price, self.price)
            and (self.directions is None or call.direction in self.directions)
            and (self.phone_numbers is None or call.virtual_number in self.phone_numbers)
        )


@dataclass(frozen=True)
class V1Page:
    total: int
    calls: list[CallRecord]
    # The cursors of the neighbouring pages (`Before=` and `After=`), None at either end.
    before: str | None
    after: str | None
