"""The manifest: one JSON file holding every key's state.

States change only by replacing this one file, so a rotation (next -> active,
active -> retired) is a single atomic step for every reader: nobody can see
two active keys of one algorithm, or none. Key files are written before the manifest that
names them and deleted only after the manifest stops naming them.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from .material import ALGS, KID, KeyStoreError

MANIFEST_NAME = "keys.json"
FORMAT = 1

NEXT = "next"
ACTIVE = "active"
RETIRED = "retired"
STATES = (ACTIVE, NEXT, RETIRED)  # also the display and JWKS order


@dataclass(frozen=True)
class KeyInfo:
    """One key's public facts. Times are Unix seconds (wall clock, shared by hosts)."""

    kid: str
    alg: str
    state: str
    created_at: int
    activated_at: int | None = None
    retired_at: int | None = None
    #: Retired keys only: when no token it signed can still be valid.
    published_until: int | None = None


def iso_time(ts: int | None) -> str:
    """UTC, second precision: what operators compare with logs and token exp."""
    if ts is None:
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def pem_name(kid: str) -> str:
    return f"{kid}.pem"


def sort_key(info: KeyInfo) -> tuple[int, int]:
    return STATES.index(info.state), -info.created_at


def dumps(records: list[KeyInfo]) -> bytes:
    keys = []
    for info in sorted(records, key=sort_key):
        entry = asdict(info)
        del entry["published_until"]  # derived from the reader's max token lifetime
        keys.append(entry)
    return (json.dumps({"format": FORMAT, "keys": keys}, indent=2) + "\n").encode()


def _int_or_none(entry: dict[str, Any], name: str, required: bool = False) -> int | None:
    value = entry.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise KeyStoreError(f"manifest: {name} of {entry.get('kid')!r} must be an integer")
    return value


def loads(raw: bytes) -> list[KeyInfo]:
    """Parse and check a manifest; raises KeyStoreError naming the first problem."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise KeyStoreError(f"manifest {MANIFEST_NAME} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise KeyStoreError(f"manifest {MANIFEST_NAME}: unknown format (expected {FORMAT})")
    entries = data.get("keys")
    if not isinstance(entries, list):
        raise KeyStoreError(f"manifest {MANIFEST_NAME}: 'keys' must be a list")
    records: list[KeyInfo] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise KeyStoreError(f"manifest {MANIFEST_NAME}: every key must be an object")
        kid, alg, state = entry.get("kid"), entry.get("alg"), entry.get("state")
        if not isinstance(kid, str) or not KID.match(kid):
            raise KeyStoreError(f"manifest: invalid kid {kid!r}")
        if alg not in ALGS:
            raise KeyStoreError(f"manifest: key {kid} has unsupported alg {alg!r}")
        if state not in STATES:
            raise KeyStoreError(f"manifest: key {kid} has unknown state {state!r}")
        info = KeyInfo(
            kid=kid,
            alg=alg,
            state=state,
            created_at=_int_or_none(entry, "created_at", required=True) or 0,
            activated_at=_int_or_none(entry, "activated_at"),
            retired_at=_int_or_none(entry, "retired_at"),
        )
        if state == RETIRED and info.retired_at is None:
            raise KeyStoreError(f"manifest: retired key {kid} has no retired_at")
        records.append(info)
    kids = [r.kid for r in records]
    if len(set(kids)) != len(kids):
        raise KeyStoreError("manifest: a kid appears twice")
    active_algs = [r.alg for r in records if r.state == ACTIVE]
    if len(set(active_algs)) != len(active_algs):
        raise KeyStoreError("manifest: more than one active key of one algorithm")
    return records
