"""Access to the per-app services (engine, config, secret) from handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import redis
from flask import current_app

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
