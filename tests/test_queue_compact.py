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


def test_only_tickets_ended_longer_ago_than_the_retention_are_forgotten(engine, clock):
    ended_early, session, first, second = (engine.take("shop") for _ in range(4))
    engine.finish("shop", ended_early.ticket, "done")
    engine.admit("shop", 1)
    engine.claim("shop", session.ticket)  # its session ends after 1,800 s
    pass_time(engine, clock, 3630, step=15, beating=[first, second])  # as often as asked

    assert engine.compact("shop", 3600) == 1

    with pytest.raises(UnknownTicket):
        engine.status("shop", ended_early.ticket)
    assert engine.status("shop", session.ticket).state == "expired"  # ended 1,830 s ago
    assert [engine.status("shop", t.ticket).position for t in (first, second)] == [1, 2]


def test_compaction_frees_the_id_entries(engine, redis_client, clock):
    tickets = [engine.take("shop") for _ in range(200)]
    for ticket in tickets[:150]:
        engine.finish("shop", ticket.ticket, "done")
    clock.advance(10)
    assert engine.compact("shop", 5) == 150
    assert redis_client.hlen("wr:{shop}:ids") == 50
    assert [engine.status("shop", t.ticket).position for t in tickets[150:]] == list(range(1, 51))
