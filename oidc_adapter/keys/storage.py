"""Where a key store keeps its manifest and private keys: the storage interface,
and its file implementation (a directory shared by every host).

KeyStore (store.py) holds the rules (states, rotation, retirement, reloading);
a storage only reads and writes bytes, so the Redis storage (redis_storage.py)
gets the very same rules. A storage hands out a `marker` that changes with
every write: readers compare it every reload interval and load nothing else
while it stays the same.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from . import files
from .manifest import MANIFEST_NAME, pem_name
from .material import KeyStoreError

#: Keys a write adds: {kid: (alg, PKCS#8 PEM)}.
Added = Mapping[str, tuple[str, bytes]]


class WriteConflict(KeyStoreError):
    """Another writer changed the store since `load()`: read again and retry."""


class Loaded(Protocol):
    """One consistent read of a store."""

    #: Changes with every write; compared with `KeyStorage.marker()`.
    marker: object
    #: The manifest (manifest.py's format); b"" for a store nobody wrote yet.
    manifest: bytes

    def private_pem(self, kid: str, alg: str) -> bytes:
        """The PKCS#8 PEM of key `kid`, checked to belong to `kid` and `alg` where the
        storage can (the caller checks the thumbprint)."""
        ...


class KeyStorage(Protocol):
    """Bytes in, bytes out: the rules live in KeyStore."""

    #: Where the keys are, for messages: a folder, or Redis and its key.
    location: str

    def marker(self) -> object | None:
        """Cheap: what `Loaded.marker` would be now; None while nothing is stored."""
        ...

    def load(self) -> Loaded: ...

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """Held by writers around load() + write(), where the storage needs a lock."""
        ...

    def write(self, base: Loaded, manifest: bytes, added: Added, removed: Iterable[str]) -> object:
        """Store `manifest` with the keys `added` ({kid: (alg, pem)}) and without the
        keys `removed`, all or nothing for readers; returns the new marker. Raises
        WriteConflict if the store changed since `base` was loaded."""
        ...


@dataclass(frozen=True)
class _FileLoaded:
    directory: Path
    manifest: bytes

    @property
    def marker(self) -> object:
        return self.manifest

    def private_pem(self, kid: str, alg: str) -> bytes:
        return (self.directory / pem_name(kid)).read_bytes()


class FileStorage:
    """A directory: `keys.json` plus one `<kid>.pem` per key.

    Key files are written before the manifest that names them and deleted only
    after it stops naming them, so a reader on any host never meets a manifest
    naming a missing key (unless someone copies the folder by hand, out of order).
    """

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.location = str(self.directory)

    def marker(self) -> object | None:
        try:
            return (self.directory / MANIFEST_NAME).read_bytes()
        except FileNotFoundError:
            return None

    def load(self) -> _FileLoaded:
        try:
            raw = (self.directory / MANIFEST_NAME).read_bytes()
        except FileNotFoundError:
            raw = b""
        return _FileLoaded(self.directory, raw)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        files.ensure_dir(self.directory)
        with files.locked(self.directory):
            files.remove_stale_temps(self.directory)
            yield

    def write(self, base: Loaded, manifest: bytes, added: Added, removed: Iterable[str]) -> object:
        # The lock held since load() rules out conflicts: base is still current.
        for kid, (_alg, pem) in added.items():
            files.atomic_write(self.directory / pem_name(kid), pem)
        if manifest != base.manifest:
            files.atomic_write(self.directory / MANIFEST_NAME, manifest)
        for kid in removed:
            files.remove(self.directory / pem_name(kid))
        return manifest
