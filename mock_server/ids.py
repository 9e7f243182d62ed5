"""Identifiers and random choices, from one source that a seed makes repeatable."""

from __future__ import annotations

import random


class IdSource:
    """Ids and choices from `seed` (random without one).

    `stream` tells apart the runs of one seed on one state file (it counts the file's starts):
    the first run draws what the seed alone gives, later ones draw a stream of their own, so a
    restarted seeded mock never repeats an id it handed out before.
    """

    def __init__(self, seed: int | None = None, stream: int = 0) -> None:
        if seed is not None and stream:
            self.random = random.Random(f"exomock/{seed}/{stream}")
        else:
            self.random = random.Random(seed)

    def uuid(self) -> str:
        # A version-4 UUID from the seeded source, formatted directly (uuid.UUID is slower).
        bits = self.random.getrandbits(128)
        bits = (bits & ~(0xF000 << 64)) | (0x4000 << 64)  # version 4
        bits = (bits & ~(0xC000 << 48)) | (0x8000 << 48)  # RFC 4122 variant
        h = f"{bits:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def digits(self, length: int) -> str:
        """A string of `length` decimal digits, leading zeros allowed."""
        return str(self.random.randrange(10**length)).zfill(length)

    def hex(self, length: int) -> str:
        return f"{self.random.getrandbits(4 * length):0{length}x}"

    def call_sid(self) -> str:
        return call_sid(self.random)

    def request_id(self) -> str:
        return self.hex(32)


def call_sid(source: random.Random) -> str:
    """A call SID as the provider writes them: 31 hex digits and a lower-case letter."""
    return f"{source.getrandbits(124):031x}" + source.choice("abcdefghijklmnopqrstuvwxyz")
