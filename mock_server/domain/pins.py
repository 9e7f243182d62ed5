"""Choosing a free PIN without scanning the allocations."""

from __future__ import annotations

from collections.abc import Callable

from ..ids import IdSource

RANDOM_PROBES = 32
# Up to this many candidates, a PIN space that random probes could not serve is walked in full,
# so that "no free PIN" is an exact answer where it can be (pin_length 1 holds exactly 10).
EXHAUSTIVE_LIMIT = 100_000


def choose_pin(ids: IdSource, length: int, is_free: Callable[[str], bool]) -> str | None:
    """A random PIN of `length` digits for which `is_free` holds, or None when there is none.

    Random probes find one quickly while the space is not nearly full; a nearly full space is then
    walked from a random point. A space too large to walk is never nearly full in practice.
    """
    space = 10**length
    for _ in range(min(space, RANDOM_PROBES)):
        pin = ids.digits(length)
        if is_free(pin):
            return pin
    if space > EXHAUSTIVE_LIMIT:
        return None
    start = ids.random.randrange(space)
    for step in range(space):
        pin = str((start + step) % space).zfill(length)
        if is_free(pin):
            return pin
    return None
