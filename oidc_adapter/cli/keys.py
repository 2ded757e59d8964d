"""`oidc-adapter keys ...`: generate, rotate, list and retire signing keys.

Run it as the same user as the server: key files are 0600, so keys written by
another user (root) could not be read by the workers.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..keys import ALGS, DEFAULT_MAX_TOKEN_LIFETIME, KeyInfo, KeyStore, KeyStoreError, store_for
from ..keys.manifest import ACTIVE, NEXT, RETIRED, iso_time
from .common import load_or_exit

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
        help="TOML config; its keys_dir, signing_alg and rooms are used.",
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
        store = store_for(load_or_exit(config_path))
    if max_token_lifetime is not None:
        store.max_token_lifetime = max_token_lifetime
    return store


alg_option = click.option(
    "--alg",
    type=click.Choice(ALGS),
    help="Algorithm of the new key [default: the config's signing_alg, else RS256].",
)


@click.group("keys")
def keys_cli() -> None:
    """Manage the signing keys (next / active / retired) in the key store."""


@keys_cli.command("generate")
@_store_options
@alg_option
def generate_cmd(store: KeyStore, alg: str | None) -> None:
    """First run: an active and a next key. Later: one more next key, published
    now so relying parties know it before a later `rotate` makes it sign."""
    info = store.generate(alg)
    click.echo(f"{info.state}: {info.kid} ({info.alg})")
    if info.state == ACTIVE:
        for other in store.keys():
            if other.state == NEXT:
                click.echo(f"next: {other.kid} ({other.alg})")


@keys_cli.command("rotate")
@_store_options
@alg_option
def rotate_cmd(store: KeyStore, alg: str | None) -> None:
    """Promote the next key to active, retire the active one, create a fresh next key."""
    before = {k.kid: k.state for k in store.keys()}
    info = store.rotate(alg)
    click.echo(f"active: {info.kid} ({info.alg})")
    for other in store.keys():
        if before.get(other.kid) == ACTIVE:
            click.echo(f"retired: {other.kid} (published until {iso_time(other.published_until)})")
        elif other.kid not in before and other.state == NEXT:
            click.echo(f"next: {other.kid} ({other.alg})")
    published = (info.activated_at or 0) - info.created_at
    if published < PREPUBLISH_ADVICE_SECONDS:
        click.echo(
            f"warning: {info.kid} was published only {published}s before it started signing; "
            "relying parties that cached the JWKS earlier reject its tokens until they refresh "
            "it (see keys/README.md)",
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
        click.echo(f"no keys in {store.directory}; run `oidc-adapter keys generate`", err=True)
        return
    now = int(time.time())
    header = ["KID", "ALG", "STATE", "CREATED", "ACTIVATED", "RETIRED", "PUBLISHED UNTIL"]
    rows = [header] + [_row(info, now) for info in infos]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@keys_cli.command("retire")
@_store_options
@click.argument("kid")
@click.option(
    "--force",
    is_flag=True,
    help="Drop it even though tokens it signed may still be valid (a compromised key).",
)
def retire_cmd(store: KeyStore, kid: str, force: bool) -> None:
    """Stop publishing KID (a retired or unused next key) and delete its file."""
    store.retire(kid, force=force)
    click.echo(f"dropped: {kid}")
