"""Signing keys of the OIDC provider: an on-disk store with next/active/retired keys.

See keys/README.md for how rotation works for operators.
"""

from __future__ import annotations

from ..config import Config
from .manifest import ACTIVE, NEXT, RETIRED, KeyInfo
from .material import ALGS, KeyStoreError
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


def store_for(cfg: Config, reload_interval: float = 2.0) -> KeyStore:
    """The key store a configured server (or the CLI) uses."""
    return KeyStore(
        cfg.keys_dir,
        alg=cfg.signing_alg,
        max_token_lifetime=max_token_lifetime(cfg),
        reload_interval=reload_interval,
    )


__all__ = [
    "ACTIVE",
    "ALGS",
    "DEFAULT_MAX_TOKEN_LIFETIME",
    "GRACE_SECONDS",
    "NEXT",
    "RETIRED",
    "KeyInfo",
    "KeyStore",
    "KeyStoreError",
    "max_token_lifetime",
    "store_for",
]
