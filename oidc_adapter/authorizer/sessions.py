"""Revocation: is the session a token names still admitted in the queue's Redis?

A token lives until its session's planned end, but the site may end the
session early (checkout, logout) and an operator may revoke it; only the
queue's state knows. It is read with the room's own status script (no
heartbeat, see `room.reader`), so the protected side and the waiting room
can never disagree on what "admitted" means.
"""

from __future__ import annotations

import redis

from ..redis_connection import connect
from ..room.reader import TicketReader
from ..room.scripts import Clock
from ..room.states import ADMITTED
from .verify import SessionStateUnavailable


class SessionCheck:
    def __init__(self, reader: TicketReader):
        self.reader = reader

    @classmethod
    def from_redis(cls, client: redis.Redis | str, clock: Clock | None = None) -> SessionCheck:
        """Over the queue's Redis (a URL, or a client with decode_responses=True)."""
        if isinstance(client, str):
            client = connect(client)
        return cls(TicketReader(client, clock))

    def is_admitted(self, room: str, session: str) -> bool:
        try:
            return self.reader.state(room, session) == ADMITTED
        except redis.RedisError as exc:
            raise SessionStateUnavailable(str(exc)) from exc
