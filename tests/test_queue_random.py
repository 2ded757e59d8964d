"""10,000 tickets through one room, checked against a model after every step.

A seeded random drives arrivals (in bursts, so queues outgrow the grace
period and heartbeats matter), abandonment, claims, early logouts, users
leaving the line and operator admissions, on the manual clock. After every
operation the engine's view and every ticket's state are compared with a
plain Python model that only allows the transitions the design allows.
"""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass, field

from oidc_adapter.room.timing import OVERDUE_POLLS

from .queue_support import GRANULE, STATE_CODES, make_engine, state_bytes

TICKETS = 10_000
RATE = 120  # per minute
CAP = 120
GRACE = 60
CLAIM = 60
# Attentive tickets beat inside the grace period, which is also four polls
# (steps are <= 1 s): late for the hint, never overdue.
BEAT_AFTER = GRACE - 5
CLAIM_WITHIN = 18  # most who claim do so quickly; 15 % never do and their turn expires
SESSION = 60
CODE = {name: code for code, name in STATE_CODES.items()}


def _first(items: dict) -> tuple | None:
    return next(iter(items.items()), None)


@dataclass
class Model:
    """What the room must look like. Dicts keep insertion order, which is
    number order for `waiting` and time order for `served` and `sessions`."""

    states: bytearray = field(default_factory=lambda: bytearray(1))
    ids: dict[int, str] = field(default_factory=dict)
    id_set: set[str] = field(default_factory=set)
    taken_s: dict[int, int] = field(default_factory=dict)
    abandoners: set[int] = field(default_factory=set)
    waiting: dict[int, None] = field(default_factory=dict)
    served: dict[int, int] = field(default_factory=dict)  # number -> served at (s)
    sessions: dict[int, int] = field(default_factory=dict)  # number -> ends at (ms)
    served_order: list[int] = field(default_factory=list)
    left: set[int] = field(default_factory=set)
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("served", "admitted", "abandoned", "expired"), 0)
    )

    @property
    def taken(self) -> int:
        return len(self.states) - 1

    def live(self) -> itertools.chain:
        return itertools.chain(self.waiting, self.served, self.sessions)

    def move(self, n: int, state: str) -> None:
        for group in (self.waiting, self.served, self.sessions):
            group.pop(n, None)
        self.states[n] = CODE[state]


class Simulation:
    def __init__(self, engine, client, clock, rng: random.Random):
        self.engine, self.client, self.clock, self.rng = engine, client, clock, rng
        self.model = Model()
        self.due: list[tuple[int, int, str, int]] = []
        self.seq = itertools.count()
        self.cap_reached = 0
        self.checks = 0
        self.longest_wait = 0

    @property
    def now(self) -> int:
        """The engine keeps ticket times in whole seconds; so does the model."""
        return self.clock.ms // 1000

    def schedule(self, delay: float, kind: str, n: int) -> None:
        heapq.heappush(self.due, (self.clock.ms + int(delay * 1000), next(self.seq), kind, n))

    # -- operations: each predicts its own effect, then checks ----------------

    def take(self) -> None:
        view = self.engine.take("shop")
        n, m = view.number, self.model
        assert n == m.taken + 1 and view.ticket not in m.id_set
        m.id_set.add(view.ticket)
        m.states.append(CODE["waiting"])
        m.waiting[n] = None
        m.ids[n], m.taken_s[n] = view.ticket, self.now
        assert view.room.poll_seconds * OVERDUE_POLLS == GRACE
        if self.rng.random() < 0.1:
            m.abandoners.add(n)
        else:
            self.schedule(BEAT_AFTER, "beat", n)
        self.check(view.room)

    def beat(self, n: int) -> None:
        if n not in self.model.waiting:
            return
        view = self.engine.status("shop", self.model.ids[n])
        self.schedule(BEAT_AFTER, "beat", n)
        self.check(view.room)

    def claim(self, n: int) -> None:
        m = self.model
        view = self.engine.claim("shop", m.ids[n])
        if view.state == "admitted" and n in m.served:
            m.move(n, "admitted")
            m.sessions[n] = self.clock.ms + SESSION * 1000
            m.counts["admitted"] += 1
            if self.rng.random() < 0.3:
                self.schedule(self.rng.uniform(0, SESSION), "logout", n)
        self.check(view.room)

    def finish(self, n: int) -> None:
        m = self.model
        was_waiting = n in m.waiting
        view = self.engine.finish("shop", m.ids[n])
        if view.state == "done" and n in set(m.live()):
            m.left.update([n] if was_waiting else [])
            m.move(n, "done")
        self.check(view.room)

    def admit(self, count: int) -> None:
        room, admitted = self.engine.admit("shop", count)
        self.check(room)
        if admitted < count:
            assert room.waiting == 0 or room.active >= CAP

    def leave(self) -> None:
        """Someone attentive near the front gives up their place on purpose."""
        near = itertools.islice(self.model.waiting, 50)
        attentive = [n for n in near if n not in self.model.abandoners]
        if attentive:
            self.finish(self.rng.choice(attentive))

    def look(self) -> None:
        self.check(self.engine.state("shop"))

    def run_due(self) -> int:
        actions = {"beat": self.beat, "claim": self.claim, "logout": self.finish}
        ran = 0
        while self.due and self.due[0][0] <= self.clock.ms:
            _, _, kind, n = heapq.heappop(self.due)
            actions[kind](n)
            ran += 1
        return ran

    # -- the check after every operation -------------------------------------

    def check(self, room) -> None:
        m, now = self.model, self.now
        engine_moved = (room.served, room.abandoned, room.expired) != tuple(
            m.counts[k] for k in ("served", "abandoned", "expired")
        )
        self.checks += 1
        # Every ticket's state is compared whenever the engine moved one on its
        # own, and every few operations anyway.
        if engine_moved or self.checks % 16 == 0:
            actual = state_bytes(self.client).ljust(1, b"\0")  # byte 0 (no ticket) may be absent
            if actual != m.states:
                self.accept_engine_moves(actual)
            assert actual == m.states, "a ticket outside the live set changed state"
        oldest_turn, oldest_session = _first(m.served), _first(m.sessions)
        assert not oldest_turn or now < oldest_turn[1] + CLAIM, "unclaimed turn kept its slot"
        assert not oldest_session or self.clock.ms < oldest_session[1], "session kept its slot"
        assert room.active <= CAP
        self.cap_reached += room.active == CAP
        assert (room.seq, room.waiting, room.pending, room.active) == (
            m.taken,
            len(m.waiting),
            len(m.served),
            len(m.served) + len(m.sessions),
        )
        assert (room.served, room.admitted, room.abandoned, room.expired) == tuple(
            m.counts[k] for k in ("served", "admitted", "abandoned", "expired")
        )
        assert room.cursor == (m.served_order[-1] if m.served_order else 0)

    def accept_engine_moves(self, actual: bytes) -> None:
        """The engine's own moves (admission, abandonment, expiry), if allowed."""
        m, now = self.model, self.now
        served = []
        for n in sorted(n for n in m.live() if actual[n] != m.states[n]):
            old, new = STATE_CODES[m.states[n]], STATE_CODES[actual[n]]
            if (old, new) == ("waiting", "abandoned"):
                assert n in m.abandoners, f"attentive ticket {n} abandoned"
                assert now >= m.taken_s[n] + GRACE
                m.counts["abandoned"] += 1
            elif (old, new) == ("served", "expired"):
                assert now >= m.served[n] + CLAIM
                m.counts["expired"] += 1
            elif (old, new) == ("admitted", "expired"):
                assert self.clock.ms >= m.sessions[n]
                m.counts["expired"] += 1
            elif (old, new) != ("waiting", "served"):
                raise AssertionError(f"ticket {n}: {old} -> {new} is not an engine move")
            m.move(n, new)
            if new == "served":
                served.append(n)
                m.served[n] = now
                self.longest_wait = max(self.longest_wait, now - m.taken_s[n])
                if self.rng.random() < 0.85:
                    self.schedule(self.rng.uniform(0, CLAIM_WITHIN), "claim", n)
        if served:
            # Served in number order, and nobody still waiting was passed over.
            assert served[0] > (m.served_order[-1] if m.served_order else 0)
            assert not m.waiting or next(iter(m.waiting)) > served[-1], "live ticket skipped"
        m.served_order += served
        m.counts["served"] += len(served)
        oldest = next((n for n in m.waiting if n in m.abandoners), None)
        if oldest is not None:
            assert now < m.taken_s[oldest] + GRACE + GRANULE, f"{oldest} not abandoned in time"


def test_ten_thousand_tickets_follow_the_model(redis_client, clock):
    engine = make_engine(
        redis_client,
        clock,
        admit_per_minute=RATE,
        max_active=CAP,
        waiting_grace_seconds=GRACE,
        claim_seconds=CLAIM,
        session_seconds=SESSION,
    )
    rng = random.Random(20261126)
    sim = Simulation(engine, redis_client, clock, rng)
    start = sim.now
    while sim.model.taken < TICKETS or sim.model.waiting:
        clock.advance(rng.randint(0, 1000) / 1000)
        ran = sim.run_due()
        # Alternate 5-minute rush and quiet periods: 3.5 and 1.2 arrivals/s.
        chance = 0.44 if (sim.now - start) // 300 % 2 == 0 else 0.15
        for _ in range(4):
            if sim.model.taken < TICKETS and rng.random() < chance:
                sim.take()
                ran += 1
        r = rng.random()
        if r < 0.04:
            sim.admit(rng.randint(1, 5))
        elif r < 0.05:
            sim.leave()
        elif not ran:
            sim.look()

    m = sim.model
    assert len(m.id_set) == m.taken == TICKETS
    assert state_bytes(redis_client) == m.states
    gone = {n for n in m.ids if m.states[n] == CODE["abandoned"]} | m.left
    assert m.served_order == [n for n in range(1, TICKETS + 1) if n not in gone]
    # The run exercised what it claims to: abandonment, long waits, a full room.
    assert m.counts["abandoned"] > 100 and sim.longest_wait > GRACE and sim.cap_reached > 0
