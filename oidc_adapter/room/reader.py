"""A ticket's state for readers that do not own the rooms' configuration.

The protected side (the authorizer) asks "is this session still admitted?"
with the engine's own status script, so the two sides can never disagree on
what admitted means; unlike the engine it never publishes room settings, as
it does not know them: a room missing from Redis simply has no sessions.
"""

from __future__ import annotations

import redis

from .results import AT, error_of
from .scripts import Clock, RoomScripts


class TicketReader:
    def __init__(self, client: redis.Redis, clock: Clock | None = None):
        self._scripts = RoomScripts(client, clock)

    def state(self, room: str, ticket: str) -> str | None:
        """The ticket's state name, or None for an unknown room or ticket."""
        raw = self._scripts("status", room, ticket, "0")
        return None if error_of(raw) else raw[AT["state"]]
