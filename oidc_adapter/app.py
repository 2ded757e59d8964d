"""The application factory."""

from __future__ import annotations

import atexit

import redis
from flask import Flask

from . import web
from .config import Config
from .keys import KeyStore, store_for
from .oidc.codes import CodeStore
from .oidc.provider import Provider
from .oidc.tokens import TokenIssuer
from .redis_connection import open_redis
from .room.engine import RoomEngine
from .room.scripts import Clock
from .room.snapshot import MAX_SECONDS as MAX_SNAPSHOT_SECONDS
from .room.snapshot import SnapshotCache
from .room.source_limit import SourceLimit
from .secret import InstanceSecret
from .services import EXTENSION, Services
from .web.body_limit import limit_request_bodies

MAX_BODY_BYTES = 16 * 1024


def create_app(
    config: Config,
    *,
    redis_client: redis.Redis | None = None,
    clock: Clock | None = None,
) -> Flask:
    """Build the app. `clock` exists for tests only: nothing a client sends can set it."""
    app = Flask(__name__, static_folder=None, template_folder=web.TEMPLATE_FOLDER)
    limit_request_bodies(app, MAX_BODY_BYTES)
    app.json.sort_keys = False
    if redis_client is None:
        redis_client, embedded = open_redis(config)
        if embedded is not None:
            atexit.register(embedded.close)
    engine = RoomEngine(redis_client, config.rooms, clock, config.redis_wait_replicas)
    _publish_settings(app, engine)
    keys = store_for(config, redis_client=redis_client)
    secret = InstanceSecret(redis_client, config.secret_key)
    tokens = TokenIssuer(config.issuer, keys)
    cache_seconds = 0 if clock is not None else MAX_SNAPSHOT_SECONDS
    app.extensions[EXTENSION] = Services(
        config=config,
        redis=redis_client,
        engine=engine,
        provider=Provider(config, engine, CodeStore(redis_client), tokens, secret),
        instance_secret=secret,
        clock=clock,
        # A driven test clock moves time by hand: a wall-clock cache would lie there.
        snapshots=SnapshotCache(cache_seconds),
        join_rules=SnapshotCache(cache_seconds),
        source_limit=SourceLimit(redis_client, clock),
    )
    web.health.add_readiness_check(app, lambda: ("signing_key", _has_signing_key(keys)))
    web.register(app, config)
    return app


def _publish_settings(app: Flask, engine: RoomEngine) -> None:
    try:
        engine.sync_settings()
        if not engine.client.info("persistence").get("aof_enabled"):
            # Snapshots alone lose the last minutes of tickets on a Redis crash.
            app.logger.warning(
                "Redis append-only persistence is off: a Redis restart can lose recent "
                "tickets and places (set appendonly yes)"
            )
    except redis.RedisError as exc:
        # Start anyway: /readyz reports it and the first room call syncs.
        app.logger.warning("could not publish room settings yet: %s", exc)


def _has_signing_key(keys: KeyStore) -> bool:
    """Every algorithm in use must sign: one missing fails every login of its clients."""
    return not keys.missing_algs()
