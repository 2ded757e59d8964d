"""The signing-key store: a directory shared by every worker and host.

Readers (the OIDC provider in each gunicorn worker) keep an immutable
snapshot in memory and re-read the manifest at most every `reload_interval`
seconds, so the hot path is a clock read and a comparison. A rotation done by
the CLI on one host reaches every process within that interval, without a
restart. A reader that finds the directory half-written or broken keeps its
last good snapshot, so it never loses its signing key mid-rotation.

Writers (CLI, first start) serialise on a lock file, write new key files
first and then replace the manifest in one atomic rename.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import files
from .manifest import (
    ACTIVE,
    MANIFEST_NAME,
    NEXT,
    RETIRED,
    KeyInfo,
    dumps,
    iso_time,
    loads,
    pem_name,
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

log = logging.getLogger(__name__)

#: Added to max_token_lifetime before a retired key may be dropped: covers
#: verifiers' clock skew and workers that signed with it during the reload
#: interval after a rotation.
GRACE_SECONDS = 300


@dataclass(frozen=True)
class _Snapshot:
    """Everything readers need, built once per manifest change and never mutated."""

    raw: bytes
    infos: tuple[KeyInfo, ...]
    active: tuple[str, str, SigningKey] | None
    jwks: tuple[dict[str, Any], ...] = ()


class KeyStore:
    """Signing keys in `directory`, each `next`, `active` (exactly one) or `retired`."""

    def __init__(
        self,
        directory: Path,
        alg: str = "RS256",
        max_token_lifetime: int = 86400,
        reload_interval: float = 2.0,
        *,
        clock: Callable[[], float] = time.time,
    ):
        self.directory = Path(directory)
        self.alg = check_alg(alg)
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

    # -- reading -----------------------------------------------------------

    def signing_key(self) -> tuple[str, str, Any]:
        """(kid, alg, private key) of the active key, for joserfc.jwt.encode."""
        snap = self._current()
        if snap is None or snap.active is None:
            raise KeyStoreError(
                f"no active signing key in {self.directory}; run `oidc-adapter keys generate`"
            )
        return snap.active

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
            raw = (self.directory / MANIFEST_NAME).read_bytes()
        except FileNotFoundError:
            if self._snapshot is not None:
                log.warning(
                    "key manifest %s vanished; keeping the keys loaded before",
                    self.directory / MANIFEST_NAME,
                )
            return
        except OSError as exc:
            log.warning("cannot read key manifest in %s: %s", self.directory, exc)
            return
        if self._snapshot is not None and raw == self._snapshot.raw:
            return
        try:
            snap = self._build(raw, loads(raw))
            if snap.active is None:
                raise KeyStoreError("manifest has no active key")
        except (KeyStoreError, OSError) as exc:
            # Retried on the next interval: the files may still be arriving.
            log.warning(
                "key store %s not usable, keeping the last good keys: %s", self.directory, exc
            )
            return
        if self._snapshot is None or snap.active != self._snapshot.active:
            log.info("key store %s: signing with %s", self.directory, snap.active[0])
        self._snapshot = snap

    def _build(self, raw: bytes, records: list[KeyInfo]) -> _Snapshot:
        infos: list[KeyInfo] = []
        public: dict[str, SigningKey] = {}
        active = None
        for info in sorted(records, key=sort_key):
            key = self._private(info)
            public[info.kid] = public_of(key, info.kid, info.alg)
            if info.state == ACTIVE:
                active = (info.kid, info.alg, key)
            infos.append(self._with_horizon(info))
        jwks = tuple(public[i.kid].as_dict(private=False) for i in infos)
        return _Snapshot(raw=raw, infos=tuple(infos), active=active, jwks=jwks)

    def _private(self, info: KeyInfo) -> SigningKey:
        key = self._parsed.get((info.kid, info.alg))
        if key is None:
            pem = (self.directory / pem_name(info.kid)).read_bytes()
            key = self._parsed[info.kid, info.alg] = load_private(pem, info.kid, info.alg)
        return key

    def _with_horizon(self, info: KeyInfo) -> KeyInfo:
        if info.state != RETIRED or info.retired_at is None:
            return dataclasses.replace(info, published_until=None)
        until = info.retired_at + self.max_token_lifetime + GRACE_SECONDS
        return dataclasses.replace(info, published_until=until)

    # -- writing -----------------------------------------------------------

    def ensure(self) -> None:
        """First run / demo: make sure there is an active key (and a next one)."""
        snap = self._current()
        if snap is not None and snap.active is not None:
            return

        def change(records: list[KeyInfo], now: int) -> tuple[list[KeyInfo], None]:
            if any(r.state == ACTIVE for r in records):
                return records, None  # another worker or host got there first
            return self._first_keys(records, now, self.alg)[0], None

        self._mutate(change)

    def generate(self, alg: str | None = None) -> KeyInfo:
        """No active key yet: an active plus a next key. Otherwise: one more next key."""
        alg = check_alg(alg or self.alg)

        def change(records: list[KeyInfo], now: int) -> tuple[list[KeyInfo], KeyInfo]:
            if any(r.state == ACTIVE for r in records):
                fresh = self._new_key(alg, NEXT, now)
                return [*records, fresh], fresh
            return self._first_keys(records, now, alg)

        return self._mutate(change)

    def rotate(self, alg: str | None = None) -> KeyInfo:
        """Promote the oldest next key (of `alg` if given); returns the new active key.

        The oldest next key has been published longest, so relying parties
        are most likely to have it cached already. With no suitable next
        key, a new one becomes active at once (an emergency rotation).
        """
        wanted = check_alg(alg) if alg else None

        def change(records: list[KeyInfo], now: int) -> tuple[list[KeyInfo], KeyInfo]:
            if not any(r.state == ACTIVE for r in records):
                raise KeyStoreError(
                    f"no active key in {self.directory} to rotate; run `oidc-adapter keys generate`"
                )
            candidates = [
                r for r in records if r.state == NEXT and (wanted is None or r.alg == wanted)
            ]
            if candidates:
                chosen = min(candidates, key=lambda r: r.created_at)
            else:
                chosen = self._new_key(wanted or self.alg, NEXT, now)
                records = [*records, chosen]
            promoted = dataclasses.replace(chosen, state=ACTIVE, activated_at=now)
            out: list[KeyInfo] = []
            for r in records:
                if r.kid == chosen.kid:
                    out.append(promoted)
                elif r.state == ACTIVE:
                    out.append(dataclasses.replace(r, state=RETIRED, retired_at=now))
                else:
                    out.append(r)
            if not any(r.state == NEXT and r.alg == promoted.alg for r in out):
                out.append(self._new_key(promoted.alg, NEXT, now))
            return out, promoted

        return self._mutate(change)

    def retire(self, kid: str, force: bool = False) -> None:
        """Stop publishing a retired (or never used next) key and delete its file.

        Refused while tokens it signed may still be valid, because relying
        parties would then reject them; `force` is for a compromised key.
        """

        def change(records: list[KeyInfo], now: int) -> tuple[list[KeyInfo], None]:
            info = next((r for r in records if r.kid == kid), None)
            if info is None:
                raise KeyStoreError(f"no key {kid!r} in {self.directory}")
            if info.state == ACTIVE:
                raise KeyStoreError(
                    f"{kid} is the active signing key; run `oidc-adapter keys rotate` first, "
                    "then retire it once the tokens it signed have expired"
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

    def _new_key(self, alg: str, state: str, now: int) -> KeyInfo:
        key = generate(alg)
        kid = kid_of(key)
        # Stage the key; _mutate writes its file before the manifest names it.
        self._parsed[kid, alg] = load_private(to_pem(key), kid, alg)
        return KeyInfo(
            kid=kid,
            alg=alg,
            state=state,
            created_at=now,
            activated_at=now if state == ACTIVE else None,
        )

    def _first_keys(
        self, records: list[KeyInfo], now: int, alg: str
    ) -> tuple[list[KeyInfo], KeyInfo]:
        active = self._new_key(alg, ACTIVE, now)
        return [*records, active, self._new_key(alg, NEXT, now)], active

    def _mutate(self, change: Callable[[list[KeyInfo], int], tuple[list[KeyInfo], Any]]) -> Any:
        """Read-modify-write under the lock; housekeeping drops expired retired keys."""
        files.ensure_dir(self.directory)
        with self._write_lock, files.locked(self.directory):
            files.remove_stale_temps(self.directory)
            path = self.directory / MANIFEST_NAME
            try:
                old_raw = path.read_bytes()
            except FileNotFoundError:
                old_raw = b""
            before = loads(old_raw) if old_raw else []
            now = int(self._clock())
            after, result = change(before, now)
            after = [r for r in after if not self._expired(r, now)]
            raw = dumps(after) if after != before else old_raw
            # Built first: a store with an unreadable key file fails before any change.
            snap = self._build(raw, after)
            known = {r.kid for r in before}
            for info in after:
                if info.kid not in known:
                    pem = to_pem(self._parsed[info.kid, info.alg])
                    files.atomic_write(self.directory / pem_name(info.kid), pem)
            if raw != old_raw:
                files.atomic_write(path, raw)
            kept = {r.kid for r in after}
            for info in before:
                if info.kid not in kept:
                    files.remove(self.directory / pem_name(info.kid))
                    self._parsed.pop((info.kid, info.alg), None)
            self._snapshot = snap
            self._checked_at = time.monotonic()
        return result

    def _expired(self, info: KeyInfo, now: int) -> bool:
        until = self._with_horizon(info).published_until
        return until is not None and until <= now
