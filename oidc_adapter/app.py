"""The application factory."""

from __future__ import annotations

import atexit

import redis
from flask import Flask

from .config import Config
from .room.engine import Clock, RoomEngine
from .store import EmbeddedRedis, connect
from .web import admin_api, health, rooms_api
from .web.context import Services
from .web.errors import register_error_handlers

MAX_BODY_BYTES = 16 * 1024


def create_app(
    config: Config,
    *,
    redis_client: redis.Redis | None = None,
    clock: Clock | None = None,
) -> Flask:
    """Build the app. `clock` exists for tests only: nothing a client sends can set it."""
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False
    if redis_client is None:
        url = config.redis_url
        if url is None:
            embedded = EmbeddedRedis(config.data_dir / "redis")
            atexit.register(embedded.close)
            app.extensions["embedded_redis"] = embedded
            url = embedded.url
        redis_client = connect(url)
    engine = RoomEngine(redis_client, config.rooms, clock=clock)
    try:
        engine.sync_settings()
    except redis.RedisError as exc:
        # Start anyway: /readyz reports it and the first room call syncs.
        app.logger.warning("could not publish room settings yet: %s", exc)
    app.extensions["waiting_room"] = Services(config=config, redis=redis_client, engine=engine)
    register_error_handlers(app)
    for bp in (rooms_api.bp, admin_api.bp, health.bp):
        app.register_blueprint(bp)
    return app
