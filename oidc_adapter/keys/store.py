"""The signing-key store: the rules every storage shares (storage.py: a directory
shared by every host; redis_storage.py: the app's Redis).

Each algorithm has its own keys: at most one active key per algorithm, so
ID tokens of an ES256 client and of an RS256 client are both signed by a
key of the right type, each rotated on its own (next -> active -> retired).

Readers (the OIDC provider in each gunicorn worker) keep an immutable
snapshot in memory and ask the storage for its change marker at most every
`reload_interval` seconds, so the hot path is a clock read and a comparison.
A rotation done by the CLI on one host reaches every process within that
interval, without a restart. Each active key's `Signer` (the parsed key and
its encoded headers) lives in the snapshot: kept while that kid signs,
replaced when a rotation changes the kid. A reader that finds the store
half-written, broken or unreachable keeps its last good snapshot, so it
never loses its signing key mid-rotation.

Writers (CLI, first start) read, change and write under the storage's lock
(a lock file) or its compare-and-set (Redis), retried when another writer
got there first.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .manifest import (
    ACTIVE,
    NEXT,
    RETIRED,
    KeyInfo,
    dumps,
    iso_time,
    loads,
    sort_key,
)
from .material import (
    KeyStoreError,
    SigningKey,
    check_alg,
    generate,
    kid_of,
    load_private,
    public_of,
    to_pem,
)
from .signer import Signer
from .storage import FileStorage, KeyStorage, Loaded, WriteConflict

log = logging.getLogger(__name__)

#: Added to max_token_lifetime before a retired key may be dropped: covers
#: verifiers' clock skew and workers that signed with it during the reload
#: interval after a rotation.
GRACE_SECONDS = 300
#: Writers that lose a compare-and-set race read again; more losses than this
#: means something is rewriting the store in a loop.
WRITE_ATTEMPTS = 5


@dataclass(frozen=True)
class _Snapshot:
    """Everything readers need, built once per manifest change and never mutated."""

    #: The storage's change marker this snapshot was built from.
    marker: object
    infos: tuple[KeyInfo, ...]
    #: The signer of each algorithm's active key, by algorithm.
    active: Mapping[str, Signer]
    jwks: tuple[dict[str, Any], ...] = ()


def _has_active(records: list[KeyInfo], alg: str) -> bool:
    return any(r.state == ACTIVE and r.alg == alg for r in records)


def _signing(snap: _Snapshot) -> dict[str, str]:
    """The kid each algorithm signs with: what operators need logged when it changes."""
    return {alg: signer.kid for alg, signer in snap.active.items()}


class KeyStore:
    """Signing keys in `storage` (a directory, or a KeyStorage), each `next`,
    `active` (one per algorithm) or `retired`.

    `alg` is the default algorithm (the config's signing_alg: access tokens,
    `keys generate`). It and `algs` make up `self.algs`, the algorithms in use:
    `ensure()` gives each an active key and readiness requires one for each.
    """

    def __init__(
        self,
        storage: KeyStorage | str | os.PathLike[str],
        alg: str = "RS256",
        max_token_lifetime: int = 86400,
        reload_interval: float = 2.0,
        *,
        algs: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
    ):
        if isinstance(storage, str | os.PathLike):
            storage = FileStorage(Path(storage))
        self.storage: KeyStorage = storage
        self.location = storage.location
        self.alg = check_alg(alg)
        self.algs = tuple(sorted({self.alg, *(check_alg(a) for a in algs)}))
        self.max_token_lifetime = max_token_lifetime
        self.reload_interval = reload_interval
        self._clock = clock
        self._snapshot: _Snapshot | None = None
        self._checked_at = float("-inf")
        self._reload_lock = threading.Lock()
        self._write_lock = threading.Lock()
        # Key files never change under a kid (the kid is their thumbprint),
        # so parsed keys are reused across reloads instead of re-parsing PEM.
        self._parsed: dict[tuple[str, str], SigningKey] = {}

    @property
    def directory(self) -> Path | None:
        """The folder of a file store (None in Redis), for commands that print it."""
        return self.storage.directory if isinstance(self.storage, FileStorage) else None

    # -- reading -----------------------------------------------------------

    def signer(self, alg: str | None = None) -> Signer:
        """The signer of the active key of `alg` (default: the store's alg).

        Called for every token, so it only reads the snapshot: the same
        Signer until a rotation makes another key of `alg` sign.
        """
        alg = alg or self.alg
        snap = self._current()
        active = snap.active.get(alg) if snap is not None else None
        if active is None:
            raise KeyStoreError(
                f"no active signing key for {alg} in {self.location}; "
                f"run `oidc-adapter keys generate --alg {alg}`"
            )
        return active

    def signing_key(self, alg: str | None = None) -> tuple[str, str, SigningKey]:
        """(kid, alg, private JWK) of the active key of `alg`, for other JOSE libraries."""
        signer = self.signer(alg)
        return signer.kid, signer.alg, signer.key

    def missing_algs(self) -> list[str]:
        """Algorithms in use that have no active key loaded: their tokens cannot be signed."""
        snap = self._current()
        return [alg for alg in self.algs if snap is None or alg not in snap.active]

    def public_jwks(self) -> dict[str, Any]:
        """Every published key (active, next, retired), public parts only."""
        snap = self._current()
        return {"keys": [dict(k) for k in snap.jwks] if snap else []}

    def keys(self) -> list[KeyInfo]:
        snap = self._current()
        return list(snap.infos) if snap else []

    def _current(self) -> _Snapshot | None:
        snap = self._snapshot
        # With no snapshot yet, another thread may be mid-way through the first
        # load (it stamps _checked_at before reading): wait for it below.
        if snap is not None and time.monotonic() - self._checked_at < self.reload_interval:
            return snap
        # One thread re-reads; the others keep serving the snapshot they have.
        # Only the very first load makes callers wait, as they have nothing yet.
        if self._reload_lock.acquire(blocking=snap is None):
            try:
                if time.monotonic() - self._checked_at >= self.reload_interval:
                    self._reload()
            finally:
                self._reload_lock.release()
        return self._snapshot

    def _reload(self) -> None:
        self._checked_at = time.monotonic()
        try:
            marker = self.storage.marker()
            if marker is None:
                if self._snapshot is not None:
                    log.warning(
                        "key store %s vanished; keeping the keys loaded before", self.location
                    )
                return
            if self._snapshot is not None and marker == self._snapshot.marker:
                return
            loaded = self.storage.load()
            snap = self._build(loaded, loads(loaded.manifest))
            if not snap.active:
                raise KeyStoreError("manifest has no active key")
        except (KeyStoreError, OSError) as exc:
            # Retried on the next interval: the files may still be arriving, Redis coming back.
            log.warning(
                "key store %s not usable, keeping the last good keys: %s", self.location, exc
            )
            return
        if self._snapshot is None or _signing(snap) != _signing(self._snapshot):
            log.info("key store %s: signing with %s", self.location, _signing(snap))
        self._snapshot = snap

    def _build(self, loaded: Loaded, records: list[KeyInfo]) -> _Snapshot:
        infos: list[KeyInfo] = []
        public: dict[str, SigningKey] = {}
        active: dict[str, Signer] = {}
        # A signer is kept while its key still signs, so its cached headers
        # survive reloads that change something else (a new next key).
        before = {s.kid: s for s in self._snapshot.active.values()} if self._snapshot else {}
        for info in sorted(records, key=sort_key):
            key = self._private(loaded, info)
            public[info.kid] = public_of(key, info.kid, info.alg)
            if info.state == ACTIVE:
                kept = before.get(info.kid)
                active[info.alg] = kept or Signer(info.kid, info.alg, key)
            infos.append(self._with_horizon(info))
        jwks = tuple(public[i.kid].as_dict(private=False) for i in infos)
        return _Snapshot(marker=loaded.marker, infos=tuple(infos), active=active, jwks=jwks)

    def _private(self, loaded: Loaded, info: KeyInfo) -> SigningKey:
        key = self._parsed.get((info.kid, info.alg))
        if key is None:
            pem = loaded.private_pem(info.kid, info.alg)
            key = self._parsed[info.kid, info.alg] = load_private(pem, info.kid, info.alg)
        return key

    def _with_horizon(self, info: KeyInfo) -> KeyInfo:
        if info.state != RETIRED or info.retired_at is None:
            return dataclasses.replace(info, published_until=None)
        until = info.retired_at + self.max_token_lifetime + GRACE_SECONDS
        return dataclasses.replace(info, published_until=until)

    # -- writing -----------------------------------------------------------

    def ensure(self) -> None:
        """Server start: an active key (and a next one) for every algorithm in use.

        So a fresh install, an upgraded store that only has RS256 keys, or a
        config that just gave a client ES256 ID tokens needs no operator step.
        A next key of that algorithm published earlier (`keys generate --alg`)
        is the one that starts signing, as RPs may have cached it already.
        """
        if not self.missing_algs():
            return

        def change(records: list[KeyInfo], now: int) -> tuple[list[KeyInfo], None]:
            for alg in self.algs:
                # Re-checked under the lock: another worker or host may have got there first.
                if not _has_active(records, alg):
                    records = self._promote(records, alg, now)[0]
            return records, None

        self._mutate(change)

    def generate(self, alg: str | None = None) -> KeyInfo:
        """No active key of `alg` yet: an active plus a next key. Otherwise one more next key."""
        alg = check_alg(alg or self.alg)

        def change(records: list[KeyInfo], now: int) -> tuple[list[KeyInfo], KeyInfo]:
            if _has_active(records, alg):
                fresh = self._new_key(alg, now)
                return [*records, fresh], fresh
            return self._promote(records, alg, now)

        return self._mutate(change)

    def rotate(self, alg: str | None = None) -> list[KeyInfo]:
        """Rotate the keys of `alg`, or of every algorithm that has an active key,
        in one step; returns the keys that now sign.

        Only algorithms with an active key: a rotation never makes an
        algorithm sign that did not before (that is `ensure()` at server start).
        """
        wanted = check_alg(alg) if alg else None

        def change(records: list[KeyInfo], now: int) -> tuple[list[KeyInfo], list[KeyInfo]]:
            if wanted is None:
                algs = sorted({r.alg for r in records if r.state == ACTIVE})
            else:
                algs = [wanted] if _has_active(records, wanted) else []
            if not algs:
                which, hint = (f"{wanted} ", f" --alg {wanted}") if wanted else ("", "")
                raise KeyStoreError(
                    f"no active {which}key in {self.location} to rotate; "
                    f"run `oidc-adapter keys generate{hint}`"
                )
            promoted = []
            for name in algs:
                records, info = self._promote(records, name, now)
                promoted.append(info)
            return records, promoted

        return self._mutate(change)

    def retire(self, kid: str, force: bool = False) -> None:
        """Stop publishing a retired (or never used next) key and delete its private
        key from the storage (a file, or Redis).

        Refused while tokens it signed may still be valid, because relying
        parties would then reject them; `force` is for a compromised key.
        """

        def change(records: list[KeyInfo], now: int) -> tuple[list[KeyInfo], None]:
            info = next((r for r in records if r.kid == kid), None)
            if info is None:
                raise KeyStoreError(f"no key {kid!r} in {self.location}")
            if info.state == ACTIVE:
                raise KeyStoreError(
                    f"{kid} is the active signing key for {info.alg}; run `oidc-adapter keys "
                    f"rotate --alg {info.alg}` first, then retire it once the tokens it signed "
                    "have expired"
                )
            until = self._with_horizon(info).published_until
            if until is not None and until > now and not force:
                raise KeyStoreError(
                    f"{kid} may still verify live tokens until {iso_time(until)} (retired "
                    f"{iso_time(info.retired_at)} + max token lifetime {self.max_token_lifetime}s "
                    f"+ {GRACE_SECONDS}s grace); relying parties would reject those tokens. "
                    "Wait until then, or use --force (e.g. if the key is compromised)"
                )
            return [r for r in records if r.kid != kid], None

        self._mutate(change)

    def _new_key(self, alg: str, now: int) -> KeyInfo:
        """A fresh next key; `_promote` makes it sign where one must sign at once."""
        key = generate(alg)
        kid = kid_of(key)
        # Stage the key; _mutate stores it with the manifest that names it.
        self._parsed[kid, alg] = load_private(to_pem(key), kid, alg)
        return KeyInfo(kid=kid, alg=alg, state=NEXT, created_at=now)

    def _promote(self, records: list[KeyInfo], alg: str, now: int) -> tuple[list[KeyInfo], KeyInfo]:
        """The oldest next key of `alg` starts signing, `alg`'s active key retires,
        and `alg` keeps a next key; the other algorithms' keys are left alone.

        The oldest next key has been published longest, so relying parties are
        most likely to have it cached already. With none, a new key signs at
        once (an emergency rotation, or the first key of an algorithm).
        """
        candidates = [r for r in records if r.state == NEXT and r.alg == alg]
        if candidates:
            chosen = min(candidates, key=lambda r: r.created_at)
        else:
            chosen = self._new_key(alg, now)
            records = [*records, chosen]
        promoted = dataclasses.replace(chosen, state=ACTIVE, activated_at=now)
        out: list[KeyInfo] = []
        for r in records:
            if r.kid == chosen.kid:
                out.append(promoted)
            elif r.state == ACTIVE and r.alg == alg:
                out.append(dataclasses.replace(r, state=RETIRED, retired_at=now))
            else:
                out.append(r)
        if not any(r.state == NEXT and r.alg == alg for r in out):
            out.append(self._new_key(alg, now))
        return out, promoted

    def _mutate(self, change: Callable[[list[KeyInfo], int], tuple[list[KeyInfo], Any]]) -> Any:
        """Read-modify-write under the storage's lock, again if another writer won a
        race; housekeeping drops expired retired keys."""
        with self._write_lock, self.storage.locked():
            for _ in range(WRITE_ATTEMPTS):
                try:
                    return self._apply(change)
                except WriteConflict:
                    continue
        raise KeyStoreError(f"{self.location} kept changing during the write; try again")

    def _apply(self, change: Callable[[list[KeyInfo], int], tuple[list[KeyInfo], Any]]) -> Any:
        loaded = self.storage.load()
        before = loads(loaded.manifest) if loaded.manifest else []
        now = int(self._clock())
        after, result = change(before, now)
        after = [r for r in after if not self._expired(r, now)]
        raw = dumps(after) if after != before else loaded.manifest
        # Built first: a store with an unreadable key fails before any change.
        snap = self._build(loaded, after)
        known, kept = {r.kid for r in before}, {r.kid for r in after}
        added = {
            r.kid: (r.alg, to_pem(self._parsed[r.kid, r.alg])) for r in after if r.kid not in known
        }
        dropped = [r for r in before if r.kid not in kept]
        if raw != loaded.manifest or added or dropped:
            marker = self.storage.write(loaded, raw, added, [r.kid for r in dropped])
            snap = dataclasses.replace(snap, marker=marker)
        for info in dropped:
            self._parsed.pop((info.kid, info.alg), None)
        self._snapshot = snap
        self._checked_at = time.monotonic()
        return result

    def copy_from(self, source: KeyStore) -> list[KeyInfo]:
        """Copy every key of `source` into this empty store, states and times
        unchanged: migrating storage changes nothing relying parties see (same
        kids, same JWKS, same signing key), so it needs no rotation."""
        loaded = source.storage.load()
        records = loads(loaded.manifest) if loaded.manifest else []
        if not records:
            raise KeyStoreError(f"no keys in {source.location} to copy")
        keys = {r.kid: (r.alg, loaded.private_pem(r.kid, r.alg)) for r in records}
        for kid, (alg, pem) in keys.items():
            load_private(pem, kid, alg)  # copy only keys that load
        with self._write_lock, self.storage.locked():
            target = self.storage.load()
            if target.manifest and loads(target.manifest):
                raise KeyStoreError(f"{self.location} already holds keys; nothing was copied")
            self.storage.write(target, dumps(records), keys, [])
        self._checked_at = float("-inf")  # the next read loads what was copied
        return self.keys()

    def _expired(self, info: KeyInfo, now: int) -> bool:
        until = self._with_horizon(info).published_until
        return until is not None and until <= now
