"""Helpers for the tests of the door a new visitor passes (proof of work, limits)."""

from __future__ import annotations

import hashlib
from itertools import count


def solve(challenge: str, bits: int) -> str:
    """The counter an honest client finds, by the same rule the server checks."""
    for counter in count():
        digest = hashlib.sha256(f"{challenge}{counter}".encode()).digest()
        if int.from_bytes(digest, "big") >> (256 - bits) == 0:
            return str(counter)
    raise AssertionError("unreachable")
