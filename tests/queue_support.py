"""Shared support for the queue tests.

Builds engines straight on the throwaway Redis and reads a room's per-ticket
state bytes, so the tests can check every ticket after every step without
going through (and advancing) the engine.
"""

from __future__ import annotations

import redis

from oidc_adapter.room.engine import RoomEngine
from oidc_adapter.room.keyspace import room_key
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
