"""Clients that do what the server tells them never lose their turn (issue 9, bug 2).

A direct-API client learns that it was served only from a poll, so the poll
hint (`heartbeat_seconds`) must leave time to claim within `claim_seconds`.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter

import pytest

from . import oidc_fixtures as fx

make_oidc, oidc = fx.make_oidc, fx.oidc  # fixtures


def run_obedient_clients(app, clock, tickets: list[dict]) -> dict[str, int]:
    """Each ticket polls its status every `heartbeat_seconds` (as its last answer
    said) and asks for its token as soon as it is served; returns the outcomes."""
    client = app.browser
    due = [(clock.ms + i * 997 % 30_000, i) for i in range(len(tickets))]  # spread phases
    heapq.heapify(due)
    outcomes: Counter[str] = Counter()
    while due:
        at, i = heapq.heappop(due)
        clock.ms = max(clock.ms, at)
        taken = tickets[i]
        status = client.get(f"/api/rooms/shop/tickets/{taken['ticket']}").json
        if status["state"] == "waiting":
            heapq.heappush(due, (clock.ms + status["heartbeat_seconds"] * 1000, i))
            continue
        answer = client.post(
            f"/api/rooms/shop/tickets/{taken['ticket']}/token",
            headers={"Authorization": f"Ticket {taken['ticket_secret']}"},
        )
        outcomes[answer.json.get("error", "admitted")] += 1
    return dict(outcomes)


@pytest.mark.parametrize("claim", [15, 20, 60])
def test_a_claim_window_shorter_than_the_old_hint_costs_nobody_their_turn(make_oidc, clock, claim):
    """Issue 9: with grace 120 s and claim 15 s, the hint said 30 s and 90 of
    300 simulated users got "410 expired"."""
    rooms = {"shop": {"admit_per_minute": 20, "waiting_grace_seconds": 120, "claim_seconds": claim}}
    app = make_oidc(rooms=rooms)
    tickets = [app.browser.post("/api/rooms/shop/tickets").json for _ in range(40)]
    assert run_obedient_clients(app, clock, tickets) == {"admitted": 40}
    assert tickets[-1]["heartbeat_seconds"] * 4 <= claim


def test_the_hint_is_a_quarter_of_the_shorter_window_within_bounds(oidc):
    engine = oidc.app.extensions["waiting_room"].engine
    for grace, claim in itertools.product((15, 60, 120, 600), repeat=2):
        engine.configure("shop", {"waiting_grace_seconds": grace, "claim_seconds": claim})
        taken = oidc.browser.post("/api/rooms/shop/tickets").json
        assert taken["heartbeat_seconds"] == max(3, min(30, min(grace, claim) // 4))
