"""Shared support for the queue tests (no tests of its own).

Builds engines straight on the throwaway Redis and reads a room's per-ticket
state bytes, so the tests can check every ticket after every step without
going through (and advancing) the engine.
"""

from __future__ import annotations

import redis

from oidc_adapter.room.engine import RoomEngine
from oidc_adapter.room.keyspace import room_keys

from .conftest import make_config
from .helpers import ManualClock

#: Abandonment is noticed at most this long after the grace period (_room.lua).
GRANULE = 5

STATE_CODES = {
    1: "waiting",
    2: "served",
    3: "admitted",
    4: "done",
    5: "abandoned",
    6: "expired",
    7: "revoked",
}


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
    raw = client.execute_command("GET", room_keys(room)[6], NEVER_DECODE=True)
    return raw or b""
