"""Revocation: is the session a token names still admitted in the queue's Redis?

A token lives until its session's planned end, but the site may end the
session early (checkout, logout) and an operator may revoke it; only the
queue's state knows. It is read with the room engine's own status script
(no heartbeat), so the protected side and the waiting room can never
disagree on what "admitted" means.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis

from ..config import RoomSettings
from ..room.engine import Clock, RoomEngine, RoomError
from ..store import connect
from .verify import StoreUnavailable


class _ReadingEngine(RoomEngine):
    """A RoomEngine for a side that does not own the room configuration."""

    def sync_settings(self, names: Iterable[str] | None = None) -> None:
        # The protected side does not know the rooms' settings, so it must never
        # publish any: a room missing from Redis simply has no live sessions.
        return None


class SessionCheck:
    def __init__(self, engine: RoomEngine):
        self.engine = engine

    @classmethod
    def from_redis(
        cls, client: redis.Redis | str, rooms: Iterable[str], clock: Clock | None = None
    ) -> SessionCheck:
        """Over the queue's Redis (a URL, or a client with decode_responses=True)."""
        if isinstance(client, str):
            client = connect(client)
        settings = {name: RoomSettings(name=name) for name in rooms}
        return cls(_ReadingEngine(client, settings, clock=clock))

    def is_admitted(self, room: str, session: str) -> bool:
        try:
            view = self.engine.status(room, session, heartbeat=False)
        except RoomError:
            return False  # unknown room or ticket: nothing admitted under that name
        except redis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from exc
        return view.state == "admitted"
