"""Access to the per-app services (engine, config, secret) from handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import redis
from flask import current_app

from ..authorizer import Authorizer, LocalKeys, SessionCheck, api_audience
from ..config import Config
from ..room.engine import RoomEngine
from ..secret import instance_secret
from .snapshot import SnapshotCache

if TYPE_CHECKING:
    from ..oidc.server import Provider


@dataclass
class Services:
    config: Config
    redis: redis.Redis
    engine: RoomEngine
    snapshots: SnapshotCache = field(default_factory=SnapshotCache)
    _secret: str | None = field(default=None, repr=False)

    @property
    def secret(self) -> str:
        # Fetched lazily so the app can start while Redis is still coming up.
        if self._secret is None:
            self._secret = instance_secret(self.redis, self.config.secret_key)
        return self._secret


def services() -> Services:
    return current_app.extensions["waiting_room"]


def provider() -> Provider:
    return current_app.extensions["oidc_provider"]


def authorizer(room: str | None = None, *, check_sessions: bool = True) -> Authorizer:
    """The server's own token check: our keys, every audience we issue for, and
    (unless told not to) the session still admitted. Built once per app."""
    cache: dict[tuple[str | None, bool], Authorizer] = current_app.extensions.setdefault(
        "authorizers", {}
    )
    found = cache.get((room, check_sessions))
    if found is None:
        p, svc = provider(), services()
        rooms = [room] if room else list(svc.config.rooms)
        audience = [api_audience(p.config.issuer, r) for r in rooms]
        audience += [c.client_id for c in svc.config.clients.values() if c.room in rooms]
        found = cache[(room, check_sessions)] = Authorizer(
            p.config.issuer,
            audience,
            rooms=rooms,
            keys=LocalKeys(p.tokens.keys.public_jwks),
            sessions=SessionCheck(svc.engine) if check_sessions else None,
        )
    return found
