"""`oidc-adapter keys ...`: generate, rotate, list and retire signing keys.

Run it as the same user as the server: key files are 0600, so keys written by
another user (root) could not be read by the workers.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..config.kek import key_encryption_key
from ..keys import (
    ALGS,
    DEFAULT_MAX_TOKEN_LIFETIME,
    FileStorage,
    KeyInfo,
    KeyStorage,
    KeyStore,
    KeyStoreError,
    RedisStorage,
    store_for,
)
from ..keys.manifest import ACTIVE, NEXT, RETIRED, iso_time
from .common import OPAQUE_ID_COMMAND, config_option, load_or_exit, redis_for

#: A next key published for less than this before it signs may be unknown to
#: relying parties that cache the JWKS (mod_auth_openidc refreshes hourly).
PREPUBLISH_ADVICE_SECONDS = 3600


def _store_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--config / --keys-dir / --max-token-lifetime, resolved into a KeyStore."""

    @click.option(
        "--config",
        "config_path",
        envvar="OIDC_ADAPTER_CONFIG",
        type=click.Path(dir_okay=False),
        help="TOML config; its keys_backend, keys_dir, signing_alg and rooms are used.",
    )
    @click.option(
        "--keys-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Key store directory; when given, no config is read.",
    )
    @click.option(
        "--max-token-lifetime",
        type=click.IntRange(1),
        help="Seconds a signed token can stay valid [default: from the config's rooms, "
        f"else {DEFAULT_MAX_TOKEN_LIFETIME}].",
    )
    @functools.wraps(command)
    def wrapper(
        config_path: str | None, keys_dir: Path | None, max_token_lifetime: int | None, **kw: Any
    ) -> Any:
        store = _open_store(config_path, keys_dir, max_token_lifetime)
        try:
            return command(store, **kw)
        except KeyStoreError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


def _open_store(
    config_path: str | None, keys_dir: Path | None, max_token_lifetime: int | None
) -> KeyStore:
    if keys_dir is None and not config_path:
        raise click.UsageError("give --config FILE (or OIDC_ADAPTER_CONFIG) or --keys-dir DIR")
    if keys_dir is not None:
        # An explicit directory wins even if OIDC_ADAPTER_CONFIG is set.
        store = KeyStore(keys_dir)
    else:
        cfg = load_or_exit(config_path)
        store = store_for(cfg, redis_client=redis_for(cfg) if cfg.keys_backend == "redis" else None)
    if max_token_lifetime is not None:
        store.max_token_lifetime = max_token_lifetime
    return store


def _alg_option(default: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--alg", type=click.Choice(ALGS), help=f"{default}.")


@click.group("keys")
def keys_cli() -> None:
    """Manage the signing keys (next / active / retired) in the key store."""


@keys_cli.command("generate")
@_store_options
@_alg_option("Algorithm of the new key [default: the config's signing_alg, else RS256]")
def generate_cmd(store: KeyStore, alg: str | None) -> None:
    """First key of an algorithm: an active and a next key. Later: one more next
    key, published now so relying parties know it before a later `rotate` makes
    it sign."""
    info = store.generate(alg)
    click.echo(f"{info.state}: {info.kid} ({info.alg})")
    if info.state == ACTIVE:
        for other in store.keys():
            if other.state == NEXT and other.alg == info.alg:
                click.echo(f"next: {other.kid} ({other.alg})")


@keys_cli.command("rotate")
@_store_options
@_alg_option("Rotate only this algorithm's keys [default: every algorithm with an active key]")
def rotate_cmd(store: KeyStore, alg: str | None) -> None:
    """Promote the next key to active, retire the active one, create a fresh next
    key: for each algorithm, each on its own keys."""
    before = {k.kid: k.state for k in store.keys()}
    promoted = store.rotate(alg)
    for info in promoted:
        click.echo(f"active: {info.kid} ({info.alg})")
    for other in store.keys():
        if before.get(other.kid) == ACTIVE and other.state == RETIRED:
            click.echo(f"retired: {other.kid} (published until {iso_time(other.published_until)})")
        elif other.kid not in before and other.state == NEXT:
            click.echo(f"next: {other.kid} ({other.alg})")
    for info in promoted:
        published = (info.activated_at or 0) - info.created_at
        if published < PREPUBLISH_ADVICE_SECONDS:
            click.echo(
                f"warning: {info.kid} was published only {published}s before it started "
                "signing; relying parties that cached the JWKS earlier reject its tokens until "
                "they refresh it (see keys/README.md)",
                err=True,
            )


def _row(info: KeyInfo, now: int) -> list[str]:
    until = iso_time(info.published_until)
    if info.published_until is not None and info.published_until <= now:
        until += " (expired: safe to retire)"
    return [
        info.kid,
        info.alg,
        info.state,
        iso_time(info.created_at),
        iso_time(info.activated_at),
        iso_time(info.retired_at),
        until if info.state == RETIRED else "-",
    ]


@keys_cli.command("list")
@_store_options
def list_cmd(store: KeyStore) -> None:
    """Every published key with its state and times (UTC)."""
    infos = store.keys()
    if not infos:
        click.echo(f"no keys in {store.location}; run `oidc-adapter keys generate`", err=True)
        return
    now = int(time.time())
    header = ["KID", "ALG", "STATE", "CREATED", "ACTIVATED", "RETIRED", "PUBLISHED UNTIL"]
    rows = [header] + [_row(info, now) for info in infos]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@keys_cli.command("retire", **OPAQUE_ID_COMMAND)
@_store_options
@click.argument("kid")
@click.option(
    "--force",
    is_flag=True,
    help="Drop it even though tokens it signed may still be valid (a compromised key).",
)
def retire_cmd(store: KeyStore, kid: str, force: bool) -> None:
    """Stop publishing KID (a retired or unused next key) and delete it from the key
    store (its file, or its Redis entry)."""
    store.retire(kid, force=force)
    click.echo(f"dropped: {kid}")


@keys_cli.command("migrate")
@config_option
@click.option(
    "--to",
    "target",
    type=click.Choice(["redis", "file"]),
    required=True,
    help="redis: copy keys_dir into Redis; file: copy Redis into keys_dir (to go back).",
)
def migrate_cmd(config_path: str, target: str) -> None:
    """Copy every key, with its state and times, from one key store into the other,
    which must be empty. Nothing RPs see changes (same kids, same signing key);
    set keys_backend to the target and restart the servers afterwards."""
    cfg = load_or_exit(config_path)
    try:
        kek = cfg.key_encryption_key or key_encryption_key(os.environ)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    in_redis: KeyStorage = RedisStorage(redis_for(cfg), kek)
    on_disk: KeyStorage = FileStorage(cfg.keys_dir)
    source, dest = (on_disk, in_redis) if target == "redis" else (in_redis, on_disk)
    try:
        copied = store_for(cfg, storage=dest).copy_from(store_for(cfg, storage=source))
    except KeyStoreError as exc:
        raise click.ClickException(str(exc)) from None
    for info in copied:
        click.echo(f"copied: {info.kid} ({info.alg}, {info.state})")
    click.echo(
        f'{len(copied)} keys now in {dest.location}; set keys_backend = "{target}" and restart '
        f"every server (until then they keep using {source.location})"
    )
