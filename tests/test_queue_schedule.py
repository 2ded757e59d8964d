"""Timed sales: the closed room before the pre-queue, the pre-queue, the
verifiable shuffle at the opening, FIFO latecomers and closes_at, on a real
Redis and the manual clock."""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
import tomllib

import pytest

from oidc_adapter.room import engine as engine_module
from oidc_adapter.room import shuffle
from oidc_adapter.room.engine import RoomClosed
from oidc_adapter.room.present import room_json, ticket_json
from oidc_adapter.room.settings import RoomSettings, parse_setting_changes

from .helpers import doc_block
from .queue_support import make_engine
from .test_queue_restart import persistent_redis  # noqa: F401 (a fixture)

PREQUEUE = 600


def timed_room(client, clock, **settings):
    """A room that opens an hour from now, pre-queue ten minutes before; nobody
    is let in by rate, so each test serves by hand and sees the order."""
    opens_at = clock.ms // 1000 + 3600
    values = {"admit_per_minute": 0, "opens_at": opens_at, "prequeue_seconds": PREQUEUE}
    return make_engine(client, clock, **{**values, **settings}), opens_at


def to_prequeue(clock, opens_at: int) -> None:
    clock.ms = (opens_at - PREQUEUE) * 1000


def served_order(engine, tickets) -> list[int]:
    """Serve one at a time and note whose turn came: the engine's real order."""
    order, waiting = [], {t.ticket: t.number for t in tickets}
    while waiting:
        _, admitted = engine.admit("shop", 1)
        assert admitted == 1
        turned = [t for t in waiting if engine.status("shop", t, heartbeat=False).state == "served"]
        assert len(turned) == 1
        order.append(waiting.pop(turned[0]))
    return order


def test_closed_before_the_prequeue_and_says_when_it_opens(redis_client, clock):
    engine, opens_at = timed_room(redis_client, clock)
    with pytest.raises(RoomClosed) as refused:
        engine.take("shop")
    schedule = room_json(refused.value.room)["schedule"]
    assert schedule["phase"] == "before"
    assert schedule["opens_at"] == opens_at
    assert schedule["prequeue_opens_at"] == opens_at - PREQUEUE
    assert schedule["seed"] is None
    assert engine.state("shop").seq == 0


def test_the_prequeue_holds_everyone_and_commits_to_a_seed(redis_client, clock):
    engine, opens_at = timed_room(redis_client, clock, admit_per_minute=600)
    to_prequeue(clock, opens_at)
    tickets = [engine.take("shop") for _ in range(5)]
    clock.ms = opens_at * 1000 - 1000
    for t in tickets:
        view = engine.status("shop", t.ticket)
        assert view.state == "waiting"
        info = ticket_json(view)
        assert info["estimate_unavailable"] == "prequeue"
        assert info["position"] is None
    room = engine.state("shop")
    assert (room.served, room.schedule.phase) == (0, "prequeue")
    assert len(room.schedule.commitment) == 64 and room.schedule.seed is None
    assert engine.admit("shop", 5)[1] == 0  # not even by hand before the opening


def test_the_opening_shuffles_verifiably_and_latecomers_queue_behind(redis_client, clock):
    engine, opens_at = timed_room(redis_client, clock)
    to_prequeue(clock, opens_at)
    early = [engine.take("shop") for _ in range(40)]
    commitment = engine.state("shop").schedule.commitment
    clock.ms = opens_at * 1000
    late = [engine.take("shop") for _ in range(5)]
    schedule = engine.state("shop").schedule
    assert (schedule.phase, schedule.prequeue_size) == ("open", 40)
    assert schedule.commitment == commitment
    assert hashlib.sha256(bytes.fromhex(schedule.seed)).hexdigest() == commitment
    expected = list(shuffle.order(schedule.seed, 40))
    assert engine.prequeue_order("shop") == expected
    assert expected != sorted(expected)
    # Nobody left, so everyone's count of people ahead is exact.
    for t in early:
        place = shuffle.place_of(schedule.seed, 40, t.number)
        assert engine.status("shop", t.ticket).ahead == place - 1
    assert [engine.status("shop", t.ticket).ahead for t in late] == [40, 41, 42, 43, 44]
    assert served_order(engine, early + late) == expected + [41, 42, 43, 44, 45]


def test_leavers_are_skipped_and_places_survive_live_changes(redis_client, clock):
    engine, opens_at = timed_room(redis_client, clock)
    to_prequeue(clock, opens_at)
    tickets = [engine.take("shop") for _ in range(20)]
    engine.finish("shop", tickets[3].ticket)  # left before the opening
    clock.ms = opens_at * 1000
    seed = engine.state("shop").schedule.seed
    assert engine.admit("shop", 5)[1] == 5
    last = [n for n in shuffle.order(seed, 20) if n != 4][-1]
    engine.finish("shop", tickets[last - 1].ticket)  # left after it, still waiting then
    before = engine.prequeue_order("shop")
    ahead = {t.ticket: engine.status("shop", t.ticket).ahead for t in tickets}
    engine.configure("shop", {"opens_at": opens_at + 7200, "admit_per_minute": 60})
    engine.configure("shop", {"admit_per_minute": 0, "opens_at": None})
    assert engine.prequeue_order("shop") == before == list(shuffle.order(seed, 20))
    assert {t.ticket: engine.status("shop", t.ticket).ahead for t in tickets} == ahead
    rest = [t for t in tickets if engine.status("shop", t.ticket).state == "waiting"]
    assert len(rest) == 13  # 20, less 5 served and the 2 who left
    waiting = {t.number for t in rest}
    assert served_order(engine, rest) == [n for n in before if n in waiting]


def test_nobody_gets_a_ticket_after_closes_at(redis_client, clock):
    engine, opens_at = timed_room(redis_client, clock, closes_at=0)
    engine.configure("shop", {"closes_at": opens_at + 60})
    to_prequeue(clock, opens_at)
    holder = engine.take("shop")
    clock.ms = (opens_at + 60) * 1000
    with pytest.raises(RoomClosed) as refused:
        engine.take("shop")
    assert refused.value.room.schedule.phase == "closed"
    assert engine.take("shop", existing=holder.ticket).ticket == holder.ticket
    assert engine.admit("shop", 1)[1] == 1  # admission goes on for those inside


def test_a_room_without_a_schedule_reports_none(redis_client, clock):
    engine = make_engine(redis_client, clock)
    view = engine.take("shop")
    assert view.room.schedule is None
    assert "schedule" not in room_json(view.room)


def test_the_prequeue_and_seed_survive_a_redis_restart(persistent_redis, clock):  # noqa: F811
    from oidc_adapter.redis_connection import connect

    engine, opens_at = timed_room(connect(persistent_redis.url), clock)
    to_prequeue(clock, opens_at)
    tickets = [engine.take("shop") for _ in range(12)]
    commitment = engine.state("shop").schedule.commitment
    persistent_redis.stop()
    persistent_redis.start()
    clock.ms = opens_at * 1000
    schedule = engine.state("shop").schedule
    assert schedule.commitment == commitment and schedule.prequeue_size == 12
    assert served_order(engine, tickets) == list(shuffle.order(schedule.seed, 12))


def test_the_opening_is_no_burst(redis_client, clock):
    engine, opens_at = timed_room(redis_client, clock, admit_per_minute=60)
    to_prequeue(clock, opens_at)
    for _ in range(30):
        engine.take("shop")
    clock.ms = opens_at * 1000 - 1
    assert engine.state("shop").served == 0
    clock.ms = opens_at * 1000
    assert engine.state("shop").served == 0  # ten minutes of pre-queue banked nothing
    clock.advance(5)
    assert engine.state("shop").served == 5


def test_a_reset_forgets_the_draw_for_the_next_sale(redis_client, clock):
    engine, opens_at = timed_room(redis_client, clock)
    to_prequeue(clock, opens_at)
    engine.take("shop")
    clock.ms = opens_at * 1000
    assert engine.state("shop").schedule.seed
    engine.configure("shop", {"opens_at": opens_at + 86400})
    assert engine.state("shop").schedule.phase == "open"  # a room opens once ...
    engine.reset("shop")  # ... until it is reset
    schedule = engine.state("shop").schedule
    assert (schedule.phase, schedule.seed, schedule.commitment) == ("before", None, "")
    assert schedule.prequeue_size == 0


def test_the_standalone_script_in_the_guide_recomputes_the_order(redis_client, clock):
    script = doc_block("docs/operators.md", "python", '"""Recompute a timed sale')
    engine, opens_at = timed_room(redis_client, clock)
    to_prequeue(clock, opens_at)
    for _ in range(30):
        engine.take("shop")
    clock.ms = opens_at * 1000
    schedule = engine.state("shop").schedule
    args = [schedule.seed, "30", schedule.commitment]
    run = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, check=True
    )
    lines = run.stdout.splitlines()
    assert lines[0] == "commitment matches"
    assert [int(line.split()[1]) for line in lines[1:]] == engine.prequeue_order("shop")


def test_one_call_serves_a_bounded_part_of_the_prequeue(redis_client, clock):
    """Each pre-queue place costs a few dozen SHA-1s: one call serves at most
    250 of them (WORK_LIMIT / SHUFFLE_COST), so no script blocks Redis long."""
    engine, opens_at = timed_room(redis_client, clock)
    to_prequeue(clock, opens_at)
    for _ in range(300):
        engine.take("shop")
    clock.ms = opens_at * 1000
    assert engine.admit("shop", 300)[1] == 250
    assert engine.admit("shop", 300)[1] == 50


def test_times_in_config_may_be_toml_datetimes_or_iso_text():
    table = tomllib.loads("opens_at = 2026-12-01T09:00:00Z\nclose = '2026-12-01T13:00:00+01:00'")
    settings = RoomSettings(opens_at=table["opens_at"], closes_at=table["close"])
    assert (settings.opens_at, settings.closes_at) == (1796115600, 1796126400)
    _, problems = parse_setting_changes({"opens_at": "2026-12-01T09:00:00"})
    assert problems == [("opens_at", "must name its zone, e.g. 2026-12-01T09:00:00Z")]
    _, problems = parse_setting_changes({"closes_at": "soon"})
    assert problems == [("closes_at", "must be Unix seconds or an ISO-8601 time with a zone")]


@pytest.mark.parametrize("draw", range(8))
def test_any_draw_serves_in_its_order_with_leavers_anywhere(redis_client, clock, monkeypatch, draw):
    """Fixed seeds and leavers (so the test is the same every run): whoever
    leaves, before or after the opening, the rest are served in the drawn
    order, latecomers after them, and `ahead` grows along that order."""
    seed = hashlib.sha256(b"draw %d" % draw).hexdigest()
    monkeypatch.setattr(engine_module, "new_seed", lambda: (seed, shuffle.commitment(seed)))
    pick = random.Random(draw)
    engine, opens_at = timed_room(redis_client, clock)
    to_prequeue(clock, opens_at)
    tickets = [engine.take("shop") for _ in range(30)]
    for t in pick.sample(tickets, 5):
        engine.finish("shop", t.ticket)
    clock.ms = opens_at * 1000
    tickets += [engine.take("shop") for _ in range(4)]
    engine.admit("shop", 7)
    waiting = [t for t in tickets if engine.status("shop", t.ticket).state == "waiting"]
    for t in pick.sample(waiting, 4):
        engine.finish("shop", t.ticket)
    waiting = [t for t in waiting if engine.status("shop", t.ticket).state == "waiting"]
    numbers = {t.number for t in waiting}
    expected = [n for n in shuffle.order(seed, 30) if n in numbers]
    expected += sorted(n for n in numbers if n > 30)
    aheads = {t.number: engine.status("shop", t.ticket).ahead for t in waiting}
    line = [aheads[n] for n in expected]
    # Inside the pre-queue, leavers are taken as spread evenly: the count is
    # off by at most the 9 who left, and never out of line order.
    assert line == sorted(line) and 0 <= line[0] and line[-1] <= len(line) - 1
    assert all(abs(ahead - exact) <= 9 for exact, ahead in enumerate(line))
    # Latecomers count everyone still waiting ahead of them exactly.
    latecomers = [aheads[n] for n in expected if n > 30]
    assert latecomers == [len(line) - len(latecomers) + i for i in range(len(latecomers))]
    assert served_order(engine, waiting) == expected
