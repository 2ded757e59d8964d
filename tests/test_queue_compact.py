"""Compaction forgets ended tickets after a retention period and nothing else."""

import pytest

from oidc_adapter.room.engine import RoomEngine, UnknownTicket
from oidc_adapter.room.settings import RoomSettings

from .queue_support import pass_time


@pytest.fixture
def engine(redis_client, clock):
    rooms = {"shop": RoomSettings(admit_per_minute=0, waiting_grace_seconds=60)}
    engine = RoomEngine(redis_client, rooms, clock)
    engine.sync_settings()
    return engine


def _old_ids(redis_client, tickets) -> list[str]:
    """Give tickets an id of the kind issued before ids carried their number:
    an id -> number record, as the old take script wrote it."""
    ids = {f"legacy-ticket-{t.number:09d}": t.number for t in tickets}
    redis_client.hset("wr:{shop}:ids", mapping=ids)
    return list(ids)


def test_only_tickets_ended_longer_ago_than_the_retention_are_forgotten(
    engine, redis_client, clock
):
    taken = [engine.take("shop") for _ in range(4)]
    ended_early, session, first, second = _old_ids(redis_client, taken)
    engine.finish("shop", ended_early, "done")
    engine.admit("shop", 1)
    engine.claim("shop", session)  # its session ends after 1,800 s
    pass_time(engine, clock, 3630, step=15, beating=taken[2:])  # as often as asked

    assert engine.compact("shop", 3600) == 1

    with pytest.raises(UnknownTicket):
        engine.status("shop", ended_early)
    assert engine.status("shop", session).state == "expired"  # ended 1,830 s ago
    assert [engine.status("shop", t).position for t in (first, second)] == [1, 2]
    # Today's ids store nothing, so there is nothing to forget: they answer.
    assert engine.status("shop", taken[0].ticket).state == "done"


def test_compaction_frees_the_id_records_of_tickets_from_before_self_verifying_ids(
    engine, redis_client, clock
):
    """Old ids keep working, and compaction frees the records of those that ended."""
    tickets = [engine.take("shop") for _ in range(200)]
    old_ids = _old_ids(redis_client, tickets)
    for ticket in old_ids[:150]:
        engine.finish("shop", ticket, "done")
    clock.advance(10)
    assert engine.compact("shop", 5) == 150
    assert redis_client.hlen("wr:{shop}:ids") == 50
    assert [engine.status("shop", t).position for t in old_ids[150:]] == list(range(1, 51))
    assert engine.status("shop", tickets[199].ticket).position == 50  # the same ticket
