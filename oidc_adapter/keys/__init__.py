"""Signing keys of the OIDC provider: a store with next/active/retired keys per
algorithm, on disk (keys_dir) or in Redis (keys_backend = "redis").

See keys/README.md for how rotation works for operators.
"""

from __future__ import annotations

import redis

from ..config import Config
from ..config.kek import KEK_ENV
from ..redis_connection import connect
from .manifest import ACTIVE, NEXT, RETIRED, KeyInfo
from .material import ALGS, KeyStoreError
from .redis_storage import RedisStorage
from .storage import FileStorage, KeyStorage
from .store import GRACE_SECONDS, KeyStore

#: Floor for the lifetime of anything we sign (ID tokens, access tokens).
DEFAULT_MAX_TOKEN_LIFETIME = 86400


def max_token_lifetime(cfg: Config) -> int:
    """The longest a token we sign can stay valid: access tokens live as long as
    the room session, so the longest session_seconds of any room, at least a day.

    The provider and the CLI both use this, so `keys retire` refuses exactly
    while a token the server signed may still be live.
    """
    longest = max((room.session_seconds for room in cfg.rooms.values()), default=0)
    return max(DEFAULT_MAX_TOKEN_LIFETIME, longest)


def algorithms_in_use(cfg: Config) -> tuple[str, ...]:
    """Every algorithm the server signs with, so each has an active key: access
    tokens use signing_alg, ID tokens their client's id_token_signed_response_alg.

    RS256 always: discovery must list it (OpenID Discovery §3), and it is what
    an RP that registered no algorithm expects.
    """
    clients = (client.id_token_signed_response_alg for client in cfg.clients.values())
    return tuple(sorted({"RS256", cfg.signing_alg, *clients}))


def store_for(
    cfg: Config,
    reload_interval: float = 2.0,
    *,
    redis_client: redis.Redis | None = None,
    storage: KeyStorage | None = None,
) -> KeyStore:
    """The key store a configured server (or the CLI) uses: `storage`, else the
    config's keys_backend (the Redis one on `redis_client`, the app's Redis)."""
    if storage is None:
        storage = _configured_storage(cfg, redis_client)
    return KeyStore(
        storage,
        alg=cfg.signing_alg,
        max_token_lifetime=max_token_lifetime(cfg),
        reload_interval=reload_interval,
        algs=algorithms_in_use(cfg),
    )


def _configured_storage(cfg: Config, redis_client: redis.Redis | None) -> KeyStorage:
    if cfg.keys_backend == "file":
        return FileStorage(cfg.keys_dir)
    if cfg.key_encryption_key is None:
        raise KeyStoreError(f"keys_backend = 'redis' needs {KEK_ENV}")
    if redis_client is None:
        if cfg.redis_url is None:
            # An embedded server lives as long as its owner: the caller must pass its client.
            raise KeyStoreError("the Redis key store needs the embedded Redis's client")
        redis_client = connect(cfg.redis_url)
    return RedisStorage(redis_client, cfg.key_encryption_key)


__all__ = [
    "ACTIVE",
    "ALGS",
    "DEFAULT_MAX_TOKEN_LIFETIME",
    "FileStorage",
    "GRACE_SECONDS",
    "NEXT",
    "RETIRED",
    "RedisStorage",
    "KeyInfo",
    "KeyStorage",
    "KeyStore",
    "KeyStoreError",
    "algorithms_in_use",
    "max_token_lifetime",
    "store_for",
]
