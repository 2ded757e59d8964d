"""What one call costs Redis in a room where nothing falls due: the counters
say when each list has work, so a heartbeat reads none of the lists (only the
admission-rate hash, which every reply carries), and the settings and
counters come from one field each."""

from __future__ import annotations

from .helpers import require_functions
from .queue_support import make_engine, pass_time

GRACE, CLAIM, SESSION = 60, 30, 120


def commands(client) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): v["calls"] for name, v in stats.items()}


def room_engine(redis_client, clock):
    return make_engine(
        redis_client,
        clock,
        admit_per_minute=0,
        max_active=10,
        waiting_grace_seconds=GRACE,
        claim_seconds=CLAIM,
        session_seconds=SESSION,
    )


def test_a_heartbeat_in_a_quiet_room_reads_no_list(redis_server, redis_client, clock):
    require_functions(redis_client)
    engine = room_engine(redis_client, clock)
    tickets = [engine.take("shop").ticket for _ in range(5)]
    engine.admit("shop", 2)
    engine.claim("shop", tickets[0])  # a session, a served ticket, three waiting
    redis_client.config_resetstat()
    for ticket in tickets[2:]:
        assert engine.status("shop", ticket).state == "waiting"
    used = commands(redis_client)
    assert used["fcall"] == 3
    assert not {"lindex", "lrange", "zrangebyscore", "zrange", "zcard"} & set(used), used
    assert used["hmget"] == 3 and used["hget"] == 3  # the counters and the settings


def test_what_the_counters_remember_falls_due_on_time(redis_server, redis_client, clock):
    """The remembered heads must not delay anything: an abandoned ticket, an
    unclaimed turn and an ended session are each noticed at their deadline."""
    engine = room_engine(redis_client, clock)
    session, unclaimed, gone, staying = (engine.take("shop") for _ in range(4))
    engine.admit("shop", 2)
    engine.claim("shop", session.ticket)
    pass_time(engine, clock, CLAIM - 1, beating=[staying])
    assert engine.status("shop", unclaimed.ticket, heartbeat=False).state == "served"
    pass_time(engine, clock, 2, beating=[staying])
    assert engine.status("shop", unclaimed.ticket, heartbeat=False).state == "expired"
    pass_time(engine, clock, GRACE, beating=[staying])
    assert engine.status("shop", gone.ticket, heartbeat=False).state == "abandoned"
    pass_time(engine, clock, SESSION - CLAIM - GRACE - 2, beating=[staying])
    assert engine.status("shop", session.ticket, heartbeat=False).state == "admitted"
    pass_time(engine, clock, 2, beating=[staying])
    assert engine.status("shop", session.ticket, heartbeat=False).state == "expired"
    assert engine.status("shop", staying.ticket).state == "waiting"
