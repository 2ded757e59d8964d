"""A ticket's place counts exactly the people still ahead of it, whichever end
of the line the scripts count from (the nearer one, so a newcomer behind a
million costs a byte or two)."""

import pytest

from oidc_adapter.room.engine import RoomEngine
from oidc_adapter.room.settings import RoomSettings


@pytest.fixture
def engine(redis_client, clock):
    rooms = {"shop": RoomSettings(admit_per_minute=0, waiting_grace_seconds=3600)}
    engine = RoomEngine(redis_client, rooms, clock)
    engine.sync_settings()
    return engine


def test_places_are_exact_from_the_front_and_from_the_back(engine):
    tickets = [engine.take("shop") for _ in range(300)]
    assert [t.position for t in tickets[-3:]] == [298, 299, 300]  # counted from the back
    engine.admit("shop", 20)
    left = set(range(25, 300, 7))  # people leave all along the line, the last one too
    for i in left:
        engine.finish("shop", tickets[i].ticket, "done")
    waiting = [t for i, t in enumerate(tickets[20:], 20) if i not in left]
    places = [engine.status("shop", t.ticket).position for t in waiting]
    assert places == list(range(1, len(waiting) + 1))
    newcomer = engine.take("shop")
    assert newcomer.position == len(waiting) + 1
