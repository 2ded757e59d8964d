"""The application factory."""

from __future__ import annotations

import atexit

import redis
from flask import Flask, Response, send_from_directory

from . import pages
from .config import Config
from .keys import KeyStore, store_for
from .oidc import endpoints as oidc_endpoints
from .oidc.codes import CodeStore
from .oidc.server import Provider
from .oidc.tokens import TokenIssuer
from .room.engine import Clock, RoomEngine
from .store import EmbeddedRedis, connect
from .web import admin_api, health, rooms_api, session_api
from .web.context import Services
from .web.cors import register_cors
from .web.errors import register_error_handlers
from .web.health import add_readiness_check
from .web.snapshot import MAX_SECONDS as MAX_SNAPSHOT_SECONDS
from .web.snapshot import SnapshotCache

MAX_BODY_BYTES = 16 * 1024


def create_app(
    config: Config,
    *,
    redis_client: redis.Redis | None = None,
    clock: Clock | None = None,
) -> Flask:
    """Build the app. `clock` exists for tests only: nothing a client sends can set it."""
    app = Flask(__name__, static_folder=None, template_folder=pages.TEMPLATE_FOLDER)
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
        if not redis_client.info("persistence").get("aof_enabled"):
            # Snapshots alone lose the last minutes of tickets on a Redis crash.
            app.logger.warning(
                "Redis append-only persistence is off: a Redis restart can lose recent "
                "tickets and places (set appendonly yes)"
            )
    except redis.RedisError as exc:
        # Start anyway: /readyz reports it and the first room call syncs.
        app.logger.warning("could not publish room settings yet: %s", exc)
    services = Services(
        config=config,
        redis=redis_client,
        engine=engine,
        # A driven test clock moves time by hand: a wall-clock cache would lie there.
        snapshots=SnapshotCache(0 if clock is not None else MAX_SNAPSHOT_SECONDS),
    )
    app.extensions["waiting_room"] = services
    keys = store_for(config)
    app.extensions["oidc_provider"] = Provider(
        config,
        engine,
        CodeStore(redis_client),
        TokenIssuer(config.issuer, keys),
        lambda: services.secret,
    )
    add_readiness_check(app, lambda: ("signing_key", _has_signing_key(keys)))
    register_error_handlers(app)
    register_cors(app, config.cors_origins)
    for bp in (rooms_api.bp, session_api.bp, admin_api.bp, health.bp, oidc_endpoints.bp):
        app.register_blueprint(bp)
    app.add_url_rule("/static/waiting/<path:filename>", "waiting_static", _waiting_static)
    app.register_blueprint(pages.bp)
    return app


def _has_signing_key(keys: KeyStore) -> bool:
    try:
        keys.signing_key()
    except Exception:
        return False
    return True


def _waiting_static(filename: str) -> Response:
    response = send_from_directory(pages.STATIC_FOLDER, filename, max_age=3600)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
