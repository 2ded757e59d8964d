"""The key store in Redis, for hosts that share no filesystem.

One hash holds everything: `manifest` (the same JSON as keys.json, no
secrets), `version` (bumped by every write) and `key:<kid>` (the private key,
envelope-encrypted, envelope.py). One hash means one key: a reader's HGETALL
and a writer's script are each atomic, also on Redis Cluster. Readers ask for
`version` every reload interval and load the rest only when it moved. Writers
need no lock: the write script applies only if the version is still the one
they read (compare-and-set), and KeyStore retries otherwise.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import redis

from .envelope import open_envelope, seal
from .material import KeyStoreError
from .storage import Added, Loaded, WriteConflict

REDIS_KEY = "wr:signing-keys"
KEY_FIELD = "key:"


def _text(value: Any) -> str:
    """Works with clients that decode responses (the app's) and ones that do not."""
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class _RedisLoaded:
    kek: bytes = field(repr=False)
    marker: object
    manifest: bytes
    envelopes: Mapping[str, str]

    def private_pem(self, kid: str, alg: str) -> bytes:
        envelope = self.envelopes.get(kid)
        if envelope is None:
            raise KeyStoreError(f"key {kid} is named by the manifest but not stored in Redis")
        return open_envelope(self.kek, kid, alg, envelope)


class RedisStorage:
    """Manifest and encrypted private keys in one Redis hash."""

    def __init__(self, client: redis.Redis, kek: bytes, key: str = REDIS_KEY):
        self._client = client
        self._kek = kek
        self._key = key
        self.location = f"Redis key {key}"
        lua = resources.files(__package__).joinpath("lua/write_keys.lua").read_text()
        self._write = client.register_script(lua)

    def marker(self) -> object | None:
        with self._errors():
            version = self._client.hget(self._key, "version")
        return None if version is None else _text(version)

    def load(self) -> _RedisLoaded:
        with self._errors():
            data = {_text(k): _text(v) for k, v in self._client.hgetall(self._key).items()}
        envelopes = {k[len(KEY_FIELD) :]: v for k, v in data.items() if k.startswith(KEY_FIELD)}
        return _RedisLoaded(
            kek=self._kek,
            marker=data.get("version"),
            manifest=data.get("manifest", "").encode(),
            envelopes=envelopes,
        )

    def locked(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()  # the write script's version check replaces a lock

    def write(self, base: Loaded, manifest: bytes, added: Added, removed: Iterable[str]) -> object:
        dropped = list(removed)
        sealed = [
            part
            for kid, (alg, pem) in added.items()
            for part in (KEY_FIELD + kid, seal(self._kek, kid, alg, pem))
        ]
        args = [base.marker or "", manifest.decode(), len(dropped), *dropped, *sealed]
        with self._errors():
            version = self._write(keys=[self._key], args=args)
        if version is None:
            raise WriteConflict(f"{self.location} changed while this write was prepared")
        return _text(version)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as exc:
            raise KeyStoreError(f"cannot reach the key store ({self.location}): {exc}") from None
