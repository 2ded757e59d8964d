"""Time-based queue behaviour, driven by the manual clock (no sleeping)."""

from __future__ import annotations

import pytest

from oidc_adapter.room.engine import RoomClosed
from oidc_adapter.room.timing import RATE_BUCKET_SECONDS, RATE_BUCKETS_KEPT

from .queue_support import GRANULE, make_engine, pass_time


def take_many(engine, count: int, room: str = "shop") -> list:
    return [engine.take(room) for _ in range(count)]


def test_rate_admits_one_per_second_at_60_per_minute(redis_client, clock):
    engine = make_engine(redis_client, clock, admit_per_minute=60, max_active=0)
    tickets = take_many(engine, 30)
    room = engine.state("shop")
    # A fresh room starts with a full bucket: rate / 6 = 10 admissions at once.
    assert (room.served, room.waiting) == (10, 20)
    for step in range(1, 21):
        clock.advance(0.5)
        assert engine.state("shop").served == 10 + step - 1
        clock.advance(0.5)
        room = engine.state("shop")
        assert room.served == 10 + step
        assert room.cursor == tickets[9 + step].number


def test_bucket_caps_the_burst_after_an_idle_period(redis_client, clock):
    engine = make_engine(redis_client, clock, admit_per_minute=60, max_active=0)
    take_many(engine, 10)
    clock.advance(600)
    take_many(engine, 25)
    room = engine.state("shop")
    # Ten minutes idle bank no more than the bucket: 10 s of rate.
    assert (room.served, room.waiting) == (20, 15)


@pytest.mark.parametrize("mode", ["auto", "queue_all"])
@pytest.mark.parametrize("every", [1, 3, 30])
def test_the_rate_holds_however_rarely_anyone_calls(redis_client, clock, mode, every):
    """Issue 9, bug 1: tokens earned between two calls were kept only up to one
    (queue_all) or one bucket (auto), so the real rate was the request rate."""
    engine = make_engine(redis_client, clock, admit_per_minute=600, mode=mode)
    take_many(engine, 400)
    start = engine.state("shop").served
    for _ in range(30 // every):
        clock.advance(every)
        engine.state("shop")
    assert engine.state("shop").served - start == 300


def test_queue_all_never_admits_ahead_of_the_schedule(redis_client, clock):
    engine = make_engine(redis_client, clock, admit_per_minute=60, mode="queue_all")
    assert engine.take("shop").state == "served"  # an empty line: straight in
    clock.advance(100)  # nobody waiting: the idle time banks one admission, not 100
    tickets = take_many(engine, 5)
    assert [t.state for t in tickets] == ["served"] + ["waiting"] * 4
    for expected in tickets[1:]:
        clock.advance(0.5)
        assert engine.state("shop").cursor == expected.number - 1
        clock.advance(0.5)
        assert engine.state("shop").cursor == expected.number


def test_a_full_room_banks_one_bucket_not_the_time_it_was_full(redis_client, clock):
    engine = make_engine(
        redis_client, clock, admit_per_minute=6, max_active=2, mode="queue_all", claim_seconds=60
    )
    first, second, *waiting = take_many(engine, 6)
    pass_time(engine, clock, 20, beating=waiting)
    assert [engine.claim("shop", t.ticket).state for t in (first, second)] == ["admitted"] * 2
    pass_time(engine, clock, 100, beating=waiting)  # full: ten admissions' worth of time
    engine.finish("shop", first.ticket)
    engine.finish("shop", second.ticket)
    # Two slots free, but queue_all banks one admission: one now, the next on schedule.
    assert [engine.status("shop", t.ticket).state for t in waiting[:2]] == ["served", "waiting"]
    pass_time(engine, clock, 10, beating=waiting[1:])
    assert engine.status("shop", waiting[1].ticket).state == "served"


def test_auto_queues_only_when_the_room_is_full(redis_client, clock):
    engine = make_engine(redis_client, clock, admit_per_minute=600, max_active=3)
    tickets = take_many(engine, 5)
    assert [t.state for t in tickets] == ["served"] * 3 + ["waiting"] * 2
    clock.advance(10)
    room = engine.state("shop")
    assert (room.active, room.waiting) == (3, 2)
    engine.finish("shop", tickets[0].ticket)
    assert engine.status("shop", tickets[3].ticket).state == "served"
    assert engine.status("shop", tickets[4].ticket).state == "waiting"


def test_paused_room_admits_nobody_and_banks_nothing(redis_client, clock):
    engine = make_engine(redis_client, clock, admit_per_minute=60)
    tickets = take_many(engine, 15)
    engine.configure("shop", {"mode": "paused"})
    waiting = tickets[10:]
    positions = [engine.status("shop", t.ticket).position for t in waiting]
    assert positions == [1, 2, 3, 4, 5]
    for _ in range(30):
        clock.advance(10)
        assert [engine.status("shop", t.ticket).position for t in waiting] == positions
        assert engine.state("shop").served == 10
    late = engine.take("shop")
    assert late.state == "waiting" and late.position == 6
    room = engine.resume("shop")
    assert room.mode == "auto" and room.served == 10
    for expected in waiting + [late]:
        clock.advance(1)
        assert engine.state("shop").cursor == expected.number


def test_closed_room_takes_no_tickets_but_keeps_the_queue(redis_client, clock):
    engine = make_engine(redis_client, clock, admit_per_minute=0)
    kept = engine.take("shop")
    engine.configure("shop", {"mode": "closed"})
    with pytest.raises(RoomClosed):
        engine.take("shop")
    again = engine.take("shop", existing=kept.ticket)
    assert (again.ticket, again.number, again.state) == (kept.ticket, 1, "waiting")
    assert engine.state("shop").seq == 1
    engine.resume("shop")
    assert engine.take("shop").number == 2


def test_passthrough_serves_everyone_at_once(redis_client, clock):
    engine = make_engine(redis_client, clock, admit_per_minute=1, max_active=2, mode="passthrough")
    tickets = take_many(engine, 50)
    assert {t.state for t in tickets} == {"served"}
    room = engine.state("shop")
    assert (room.waiting, room.served, room.active) == (0, 50, 50)


def test_heartbeating_ticket_is_never_abandoned_and_silent_one_is_skipped(redis_client, clock):
    engine = make_engine(redis_client, clock, admit_per_minute=0, waiting_grace_seconds=15)
    first, silent, last = take_many(engine, 3)
    for _ in range(60):  # ten minutes, beating every 10 s (grace 15 s)
        clock.advance(10)
        assert engine.status("shop", first.ticket).state == "waiting"
        view = engine.status("shop", last.ticket)
        assert view.state == "waiting"
    assert view.ahead == 1  # the silent ticket no longer counts
    assert engine.status("shop", silent.ticket, heartbeat=False).state == "abandoned"
    room, admitted = engine.admit("shop", 2)
    assert admitted == 2 and room.abandoned == 1 and room.waiting == 0
    assert engine.status("shop", first.ticket).state == "served"
    assert engine.status("shop", last.ticket).state == "served"
    assert engine.status("shop", silent.ticket).state == "abandoned"


def test_abandonment_is_seen_between_grace_and_grace_plus_granule(redis_client, clock):
    engine = make_engine(redis_client, clock, admit_per_minute=0, waiting_grace_seconds=30)
    silent, other = take_many(engine, 2)
    for _ in range(29):
        clock.advance(1)
        assert engine.status("shop", other.ticket).ahead == 1
    for _ in range(GRANULE + 1):
        clock.advance(1)
        view = engine.status("shop", other.ticket)
    assert view.ahead == 0 and view.room.abandoned == 1
    assert engine.status("shop", silent.ticket).state == "abandoned"


def test_late_poll_after_grace_does_not_revive_a_silent_ticket(redis_client, clock):
    """In a room in use, abandonment does not wait for a sweep to notice it."""
    engine = make_engine(redis_client, clock, admit_per_minute=0, waiting_grace_seconds=30)
    ticket = engine.take("shop")
    pass_time(engine, clock, 29, step=7)
    clock.advance(2)  # a sweep would see the granule only later
    assert engine.status("shop", ticket.ticket).state == "abandoned"
    assert engine.state("shop").waiting == 0


def test_a_silence_nobody_called_through_does_not_count_against_anyone(redis_client, clock):
    """Longer than a poll period without a single call: the room could not be
    reached, or nobody was there. Either way the grace period does not run."""
    engine = make_engine(redis_client, clock, admit_per_minute=0, waiting_grace_seconds=30)
    ticket = engine.take("shop")
    poll = ticket.room.poll_seconds
    clock.advance(300)
    view = engine.status("shop", ticket.ticket, heartbeat=False)
    assert (view.state, view.position) == ("waiting", 1)
    # Only one poll period of the silence counted: the grace period runs on from there.
    pass_time(engine, clock, 30 - poll - 1)
    assert engine.status("shop", ticket.ticket, heartbeat=False).state == "waiting"
    pass_time(engine, clock, GRANULE + 1)
    assert engine.status("shop", ticket.ticket).state == "abandoned"


def test_a_ticket_that_stopped_polling_is_skipped_when_its_turn_comes(redis_client, clock):
    """Issue 9: 59 of 103 abandoned users were served before the sweep caught
    them, each holding a slot for the claim window."""
    engine = make_engine(
        redis_client,
        clock,
        admit_per_minute=0,
        max_active=1,
        waiting_grace_seconds=120,
        claim_seconds=15,
    )
    gone, late, present = take_many(engine, 3)
    poll = 3  # a quarter of the claim window
    pass_time(engine, clock, 3 * poll, step=poll, beating=[present])
    engine.status("shop", late.ticket)  # missed two polls, then came back
    pass_time(engine, clock, poll, step=poll, beating=[present])
    room, admitted = engine.admit("shop", 1)
    # Four polls missed: far inside the grace period, but nobody is there to claim.
    assert (admitted, room.abandoned, room.active, room.cursor) == (1, 1, 1, late.number)
    assert engine.status("shop", gone.ticket, heartbeat=False).state == "abandoned"
    assert engine.status("shop", present.ticket).position == 1
    assert room.poll_seconds == poll


def test_unclaimed_turn_gives_its_slot_back(redis_client, clock):
    engine = make_engine(redis_client, clock, admit_per_minute=600, max_active=1, claim_seconds=15)
    unclaimed, nxt = take_many(engine, 2)
    assert (unclaimed.state, nxt.state) == ("served", "waiting")
    pass_time(engine, clock, 14)
    assert engine.status("shop", nxt.ticket).state == "waiting"
    clock.advance(1)
    assert engine.status("shop", nxt.ticket).state == "served"
    assert engine.status("shop", unclaimed.ticket).state == "expired"
    assert engine.claim("shop", unclaimed.ticket).state == "expired"
    room = engine.state("shop")
    assert (room.active, room.pending, room.expired) == (1, 1, 1)


def test_session_expiry_frees_the_slot(redis_client, clock):
    engine = make_engine(
        redis_client, clock, admit_per_minute=600, max_active=1, session_seconds=60
    )
    first, second = take_many(engine, 2)
    admitted = engine.claim("shop", first.ticket)
    assert admitted.state == "admitted"
    assert admitted.session_expires_ms == clock.ms + 60_000
    clock.advance(59)
    assert engine.status("shop", second.ticket).state == "waiting"
    clock.advance(1)
    assert engine.status("shop", second.ticket).state == "served"
    assert engine.status("shop", first.ticket).state == "expired"
    room = engine.state("shop")
    assert (room.active, room.admitted, room.expired) == (1, 1, 1)


def test_finishing_a_session_frees_the_slot_at_once(redis_client, clock):
    engine = make_engine(redis_client, clock, admit_per_minute=600, max_active=1)
    first, second = take_many(engine, 2)
    engine.claim("shop", first.ticket)
    assert engine.finish("shop", first.ticket).state == "done"
    assert engine.status("shop", second.ticket).state == "served"


def test_rate_history_sums_each_bucket_and_drops_what_left_the_window(redis_client, clock):
    """The history is a ring of RATE_BUCKETS_KEPT slots: a bucket's admissions
    add up in its slot, and a slot reused by a later bucket (or one left
    behind by a silence) no longer counts."""
    engine = make_engine(redis_client, clock, admit_per_minute=0)

    def admit_one():
        engine.take("shop")
        view, admitted = engine.admit("shop", 1)
        assert admitted == 1
        return view.rate_buckets

    first = clock.ms // 1000 // RATE_BUCKET_SECONDS
    admit_one()
    clock.advance(1)
    assert admit_one() == {first: 2}
    clock.advance(RATE_BUCKET_SECONDS)
    assert admit_one() == {first: 2, first + 1: 1}
    # The bucket that reuses the first one's slot.
    clock.advance((RATE_BUCKETS_KEPT - 1) * RATE_BUCKET_SECONDS)
    last = first + RATE_BUCKETS_KEPT
    assert clock.ms // 1000 // RATE_BUCKET_SECONDS == last
    assert admit_one() == {first + 1: 1, last: 1}
    clock.advance(RATE_BUCKET_SECONDS)
    assert admit_one() == {last: 1, last + 1: 1}
    # A silence longer than the window: only the new bucket is history.
    clock.advance(3 * RATE_BUCKETS_KEPT * RATE_BUCKET_SECONDS)
    assert admit_one() == {clock.ms // 1000 // RATE_BUCKET_SECONDS: 1}


def test_rate_history_keeps_only_the_recent_window(redis_client, clock):
    engine = make_engine(redis_client, clock, admit_per_minute=60)
    engine.take("shop")
    clock.advance(3600)
    room = engine.take("shop").room
    current = room.now_ms // 10_000
    assert room.rate_buckets == {current: 1}
