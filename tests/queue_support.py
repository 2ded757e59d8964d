"""Shared support for the queue tests.

Builds engines straight on the throwaway Redis and reads a room's per-ticket
state bytes, so the tests can check every ticket after every step without
going through (and advancing) the engine.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from oidc_adapter.room.engine import RoomEngine
from oidc_adapter.room.keyspace import room_key
from oidc_adapter.room.results import RoomView, TicketView
from oidc_adapter.room.states import NUMBERS
from oidc_adapter.room.timing import HEARTBEAT_GRANULE_SECONDS

from .conftest import make_config
from .helpers import ManualClock

#: Abandonment is noticed at most this long after the grace period.
GRANULE = HEARTBEAT_GRANULE_SECONDS
#: Stored state byte -> state name.
STATE_CODES = {number: name for name, number in NUMBERS.items()}


def make_engine(
    client: redis.Redis, clock: ManualClock | None, room: str = "shop", **settings: object
) -> RoomEngine:
    """An engine for one room with the given settings, published to Redis."""
    cfg = make_config("redis://127.0.0.1:6379/0", rooms={room: dict(settings)})
    engine = RoomEngine(client, cfg.rooms, clock=clock)
    engine.sync_settings()
    return engine


def state_bytes(client: redis.Redis, room: str = "shop") -> bytes:
    """The raw per-ticket state bytes (byte n = state code of ticket number n)."""
    raw = client.execute_command("GET", room_key(room, "ticket_states"), NEVER_DECODE=True)
    return raw or b""


def pass_time(
    engine: RoomEngine,
    clock: ManualClock,
    seconds: float,
    step: float = 1.0,
    beating: Sequence[TicketView] = (),
    room: str = "shop",
) -> RoomView:
    """Let time pass in a room in use: every `step` seconds the `beating`
    tickets poll (a heartbeat), or else someone looks at the room.

    Deadlines run on the room's clock, which skips silences longer than a poll
    period (they look like an outage); a room that people poll keeps it in step
    with the caller's clock.
    """
    view = engine.state(room)
    left = seconds
    while left > 0:
        clock.advance(min(step, left))
        left -= step
        for ticket in beating:
            engine.status(room, ticket.ticket)
        view = engine.state(room)
    return view
