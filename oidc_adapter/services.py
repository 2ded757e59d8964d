"""The service hub: what every blueprint of one app reads (config, Redis,
room engine, provider, instance secret), built once by the app factory.

It sits below the HTTP layer and above the core packages, so blueprints
never build their own engine or provider and never reach into each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis
from flask import current_app

from .authorizer import Authorizer, LocalKeys, SessionCheck, api_audience
from .config import Config
from .oidc.provider import Provider
from .room.engine import RoomEngine
from .room.join_rules import JoinRules
from .room.reader import TicketReader
from .room.scripts import Clock
from .room.snapshot import SnapshotCache
from .room.source_limit import SourceLimit
from .secret import InstanceSecret

EXTENSION = "waiting_room"


@dataclass
class Services:
    """One app's shared parts. `clock` is the test clock, None in production."""

    config: Config
    redis: redis.Redis
    engine: RoomEngine
    provider: Provider
    instance_secret: InstanceSecret = field(repr=False)
    source_limit: SourceLimit
    clock: Clock | None = None
    snapshots: SnapshotCache[bytes] = field(default_factory=SnapshotCache)
    join_rules: SnapshotCache[JoinRules] = field(default_factory=SnapshotCache)
    _authorizers: dict[tuple[str | None, bool], Authorizer] = field(default_factory=dict)

    @property
    def secret(self) -> str:
        return self.instance_secret()

    def authorizer(self, room: str | None = None, *, check_sessions: bool = True) -> Authorizer:
        """The server's own token check: our keys, every audience we issue for, and
        (unless told not to) the session still admitted. Built once per app."""
        found = self._authorizers.get((room, check_sessions))
        if found is None:
            rooms = [room] if room else list(self.config.rooms)
            audience = [api_audience(self.config.issuer, r) for r in rooms]
            audience += [c.client_id for c in self.config.clients.values() if c.room in rooms]
            sessions = (
                SessionCheck(TicketReader(self.redis, self.clock)) if check_sessions else None
            )
            found = self._authorizers[(room, check_sessions)] = Authorizer(
                self.config.issuer,
                audience,
                rooms=rooms,
                keys=LocalKeys(self.provider.tokens.keys.public_jwks),
                sessions=sessions,
            )
        return found


def services() -> Services:
    return current_app.extensions[EXTENSION]
