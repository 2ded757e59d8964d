"""The pre-queue's keyed permutation: a permutation, invertible, and uniform.

Uniformity is a chi-square test over many seeds, each derived from its index
so the test is deterministic: it either always passes or always fails, and a
weak round function (or an off-by-one in the cycle-walk) fails it.
"""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from oidc_adapter.room import shuffle

SEEDS = 6000
#: Chi-square critical values at significance 0.001, by degrees of freedom.
CRITICAL_0_001 = {4: 18.467, 6: 22.458, 7: 24.322, 19: 43.820, 29: 58.301, 55: 93.168}


def seed(i: int) -> str:
    return hashlib.sha256(f"test seed {i}".encode()).hexdigest()


def chi_square(counts: Counter, cells: int, total: int) -> float:
    expected = total / cells
    return sum((counts.get(cell, 0) - expected) ** 2 / expected for cell in range(cells))


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 16, 17, 100, 1025])
def test_every_size_gives_a_permutation_and_its_inverse(size):
    order = list(shuffle.order(seed(size), size))
    assert sorted(order) == list(range(1, size + 1))
    assert [shuffle.place_of(seed(size), size, n) for n in order] == list(range(1, size + 1))


@pytest.mark.parametrize("size", [5, 7, 8, 20, 30])
def test_the_first_ticket_lands_anywhere_alike(size):
    """Where ticket 1 ends up, over many seeds: one cell per place."""
    places = Counter(shuffle.place_of(seed(i), size, 1) - 1 for i in range(SEEDS))
    assert chi_square(places, size, SEEDS) < CRITICAL_0_001[size - 1]


@pytest.mark.parametrize("size", [5, 8])
def test_pairs_of_tickets_land_independently(size):
    """The places of tickets 1 and 2 together: every ordered pair of distinct
    places alike, so the shuffle has no favourite neighbours."""
    cells = {
        (a, b): k
        for k, (a, b) in enumerate((a, b) for a in range(size) for b in range(size) if a != b)
    }
    pairs = Counter(
        cells[(shuffle.place_of(seed(i), size, 1) - 1, shuffle.place_of(seed(i), size, 2) - 1)]
        for i in range(SEEDS)
    )
    assert chi_square(pairs, len(cells), SEEDS) < CRITICAL_0_001[len(cells) - 1]


def test_who_comes_first_is_uniform_too():
    """The ticket served first, over many seeds: each of the pre-queue alike."""
    firsts = Counter(shuffle.number_at(seed(i), 7, 1) - 1 for i in range(SEEDS))
    assert chi_square(firsts, 7, SEEDS) < CRITICAL_0_001[6]


def test_the_commitment_is_the_sha256_of_the_seed_bytes():
    value, digest = shuffle.new_seed()
    assert len(value) == 2 * shuffle.SEED_BYTES
    assert digest == hashlib.sha256(bytes.fromhex(value)).hexdigest()
    assert shuffle.new_seed()[0] != value
