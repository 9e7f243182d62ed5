"""Identifiers and random choices, from one source that a seed makes repeatable."""

from __future__ import annotations

import random
import uuid


class IdSource:
    def __init__(self, seed: int | None = None) -> None:
        self.random = random.Random(seed)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.random.getrandbits(128), version=4))

    def digits(self, length: int) -> str:
        """A string of `length` decimal digits, leading zeros allowed."""
        return str(self.random.randrange(10**length)).zfill(length)

    def hex(self, length: int) -> str:
        return f"{self.random.getrandbits(4 * length):0{length}x}"

    def call_sid(self) -> str:
        # The provider's call SIDs are 31 hex digits and a lower-case letter.
        return self.hex(31) + self.random.choice("abcdefghijklmnopqrstuvwxyz")

    def request_id(self) -> str:
        return self.hex(32)
