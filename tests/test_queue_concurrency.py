"""Ticket numbers stay unique and gapless when many processes take at once."""

from __future__ import annotations

import multiprocessing

import redis

from oidc_adapter.room.engine import RoomEngine

from .conftest import make_config
from .queue_support import STATE_CODES, make_engine, state_bytes

PROCESSES = 8
TAKES_PER_PROCESS = 250
ROOM_SETTINGS = {"admit_per_minute": 600, "max_active": 100}


def _take_tickets(url: str, barrier, results) -> None:
    """One worker: its own connection and engine, released with all the others at once."""
    client = redis.Redis.from_url(url, decode_responses=True)
    engine = RoomEngine(client, make_config(url, rooms={"shop": ROOM_SETTINGS}).rooms)
    barrier.wait(timeout=30)
    taken = [engine.take("shop") for _ in range(TAKES_PER_PROCESS)]
    results.put([(t.ticket, t.number) for t in taken])
    client.close()


def test_concurrent_takes_get_distinct_gapless_numbers(redis_server, redis_client):
    engine = make_engine(redis_client, None, **ROOM_SETTINGS)
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    workers = [
        ctx.Process(target=_take_tickets, args=(redis_server.url, barrier, results))
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    batches = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0

    taken = [pair for batch in batches for pair in batch]
    total = PROCESSES * TAKES_PER_PROCESS
    numbers = sorted(number for _, number in taken)
    assert numbers == list(range(1, total + 1))
    assert len({ticket for ticket, _ in taken}) == total

    # The takes really overlapped: some worker's numbers are not one block.
    assert any(b[-1][1] - b[0][1] >= TAKES_PER_PROCESS for b in batches)

    room = engine.state("shop")
    assert room.seq == total
    assert room.waiting + room.served == total
    # Whatever was admitted meanwhile was admitted strictly in number order.
    states = [STATE_CODES[b] for b in state_bytes(redis_client)[1:]]
    assert states == ["served"] * room.served + ["waiting"] * room.waiting
    assert room.cursor == room.served
