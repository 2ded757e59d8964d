"""The pre-queue's keyed permutation, exactly as the room scripts compute it.

At a timed sale's opening the P tickets of the pre-queue are served in the
order of a permutation of [1..P] keyed by a secret seed. A Feistel network
over the smallest power of two >= P, with cycle-walking back into [1..P],
gives the ticket at any place (and the place of any ticket) in a few
SHA-1 calls, so Redis never sorts or stores a million-entry order. The round
function is SHA-1 because it is the one hash Redis Lua has (redis.sha1hex).

The seed's SHA-256 is published as a commitment before anyone joins, and the
seed itself at the opening, so anyone can check that the order was fixed in
advance and recompute it with this module (only the standard library: the
operator guide has the same code as a standalone script).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator

#: Four rounds are enough in theory (Luby-Rackoff) but not on the tiny halves
#: of a small pre-queue: with 4 or 6 the places of two tickets were measurably
#: dependent (tests/test_shuffle.py), from 10 on they were not.
ROUNDS = 12
SEED_BYTES = 32
#: Halves of one or two bits mix poorly (pairs of tickets were measurably
#: dependent for P <= 8 on 8 bits): small pre-queues walk a domain of 16.
MIN_BITS = 4


def new_seed() -> tuple[str, str]:
    """A fresh seed (hex) and its commitment: the hex SHA-256 of the seed's bytes."""
    seed = secrets.token_hex(SEED_BYTES)
    return seed, commitment(seed)


def commitment(seed: str) -> str:
    return hashlib.sha256(bytes.fromhex(seed)).hexdigest()


def _bits(size: int) -> int:
    """Bits of the smallest power of two >= size (cycle-walking then takes
    fewer than two steps on average), but at least MIN_BITS."""
    return max(MIN_BITS, (size - 1).bit_length())


def _round(seed: str, i: int, x: int, bits: int) -> int:
    digest = hashlib.sha1(f"{seed}:{i}:{x}".encode(), usedforsecurity=False)
    return int(digest.hexdigest()[:8], 16) % (1 << bits)


def _encrypt(seed: str, bits: int, x: int) -> int:
    """An unbalanced Feistel network: the halves (left `bits // 2` bits, right
    the rest) swap sizes every round, and an even number of rounds brings
    them back, so any bit count works."""
    size_left, size_right = bits // 2, bits - bits // 2
    left, right = x >> size_right, x & ((1 << size_right) - 1)
    for i in range(1, ROUNDS + 1):
        left, right = right, left ^ _round(seed, i, right, size_left)
        size_left, size_right = size_right, size_left
    return (left << size_right) | right


def _decrypt(seed: str, bits: int, x: int) -> int:
    size_left, size_right = bits // 2, bits - bits // 2
    left, right = x >> size_right, x & ((1 << size_right) - 1)
    for i in range(ROUNDS, 0, -1):
        size_left, size_right = size_right, size_left
        left, right = right ^ _round(seed, i, left, size_left), left
    return (left << size_right) | right


def number_at(seed: str, size: int, place: int) -> int:
    """The ticket number served at `place` (both 1-based) among `size` tickets."""
    bits, x = _bits(size), place - 1
    x = _encrypt(seed, bits, x)
    while x >= size:  # cycle-walk: the domain is less than twice the size
        x = _encrypt(seed, bits, x)
    return x + 1


def place_of(seed: str, size: int, number: int) -> int:
    """The inverse of `number_at`: where ticket `number` is served."""
    bits, x = _bits(size), number - 1
    x = _decrypt(seed, bits, x)
    while x >= size:
        x = _decrypt(seed, bits, x)
    return x + 1


def order(seed: str, size: int) -> Iterator[int]:
    """Every ticket number of the pre-queue, in the order they are served."""
    return (number_at(seed, size, place) for place in range(1, size + 1))
