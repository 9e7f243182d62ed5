"""Pages of what the mock keeps, newest first: the dashboard's reads (`/_mock/ui`).

Plain reads of the stores, never a write. A page is cut on the server so that the answer stays
small however much the store holds; a search is a substring match over the identifiers a
developer would paste (numbers, VNs, PINs, ids), one pass over the tenant's allocations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from .allocations import Allocation
from .call_model import CallRecord
from .deliveries import Delivery

# The limits of every page request, stated again in `openapi/mock-control.yaml`.
MAX_PAGE_SIZE = 200
MAX_PAGE = 100_000
MAX_QUERY_LENGTH = 64

Item = TypeVar("Item")


@dataclass(frozen=True)
class Page(Generic[Item]):
    total: int
    items: list[Item]


def newest_first(
    oldest_first: Sequence[Item], keep: Callable[[Item], bool] | None, offset: int, limit: int
) -> Page[Item]:
    """One page of a sequence, newest first; with `keep`, of the items it keeps."""
    if keep is None:
        # No filter: the count is the length and the page a slice, whatever the size.
        total = len(oldest_first)
        end = max(total - offset, 0)
        return Page(total, list(reversed(oldest_first[max(end - limit, 0) : end])))
    matching = [item for item in reversed(oldest_first) if keep(item)]
    return Page(len(matching), matching[offset : offset + limit])


def search_term(raw: str) -> str:
    """What to look for: a national number's trunk 0 dropped, so that `09876500001` finds the
    E.164 `+919876500001` the store keeps."""
    term = raw.strip()
    if len(term) == 11 and term.startswith("0") and term.isdigit():
        return term[1:]
    return term


def allocation_filter(term: str, state: str | None) -> Callable[[Allocation], bool] | None:
    if not term and state is None:
        return None

    def keep(a: Allocation) -> bool:
        if state is not None and a.state != state:
            return False
        if not term:
            return True
        if term in a.ref or term in a.id:
            return True
        for values in (a.a_numbers, a.b_numbers, a.a_vns, a.b_vns, a.a_pins, a.b_pins):
            for value in values:
                if term in value:
                    return True
        return False

    return keep


def allocations_page(
    allocations: Iterable[Allocation], query: str, state: str | None, offset: int, limit: int
) -> Page[Allocation]:
    """A tenant's allocations matching the search (and state), newest first."""
    ordered = allocations if isinstance(allocations, list) else list(allocations)
    return newest_first(ordered, allocation_filter(search_term(query), state), offset, limit)


def deliveries_page(
    deliveries: Sequence[Delivery], offset: int, limit: int
) -> Page[Delivery]:
    return newest_first(deliveries, None, offset, limit)


def calls_page(calls: Sequence[CallRecord], offset: int, limit: int) -> Page[CallRecord]:
    return newest_first(calls, None, offset, limit)


def deliveries_by_call(deliveries: Iterable[Delivery], sids: set[str]) -> dict[str, list[Delivery]]:
    """The logged callbacks each of these calls caused (a call's callbacks share its SID as
    their `sequence`), oldest first."""
    found: dict[str, list[Delivery]] = {sid: [] for sid in sids}
    for delivery in deliveries:
        # A Connect applet's requests are logged without a sequence; their query names the call.
        sid = delivery.sequence or delivery.payload.get("CallSid")
        if isinstance(sid, str) and sid in found:
            found[sid].append(delivery)
    return found

