"""The `oidc-adapter` command line: this module holds the group and the
commands that run or check the server; `room` and `keys` are sub-groups in
modules of their own."""

from __future__ import annotations

import json
import sys

import click

from ..config import ConfigError, json_schema, load_config
from .common import load_or_exit


@click.group()
@click.version_option(package_name="oidc-waiting-room")
def main() -> None:
    """OIDC Waiting Room: a virtual waiting room delivered as an OpenID Connect IdP."""


@main.command("check-config")
@click.argument("file", type=click.Path(dir_okay=False), required=False)
@click.option("--schema", is_flag=True, help="Print the config's JSON Schema instead.")
def check_config(file: str | None, schema: bool) -> None:
    """List every problem in FILE, each with its field; exit 1 if there are any."""
    if schema:
        click.echo(json.dumps(json_schema(), indent=2, sort_keys=True))
        return
    if file is None:
        raise click.UsageError("give a config FILE (or --schema)")
    try:
        cfg = load_config(file)
    except ConfigError as exc:
        for field, message in exc.problems:
            click.echo(f"{field}: {message}")
        click.echo(f"{len(exc.problems)} problem(s) found", err=True)
        sys.exit(1)
    click.echo(f"OK: {len(cfg.rooms)} room(s), {len(cfg.clients)} client(s), issuer {cfg.issuer}")


@main.command()
@click.option("--config", "config_path", envvar="OIDC_ADAPTER_CONFIG", required=True)
@click.option("--bind", default="127.0.0.1:8000", show_default=True)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64))
def serve(config_path: str, bind: str, workers: int, threads: int) -> None:
    """Run the production server (gunicorn)."""
    cfg = load_or_exit(config_path)
    if not cfg.admin_credentials:
        click.echo(
            "admin_token: required to serve (set it, admin_tokens or OIDC_ADAPTER_ADMIN_TOKEN)",
            err=True,
        )
        sys.exit(2)
    from ..gunicorn_app import run
    from ..keys import KeyStoreError

    try:
        run(cfg, bind, workers, threads)
    except KeyStoreError as exc:
        # Raised before any worker starts: no keys could be read or made (Redis
        # unreachable, another key-encryption key): say so, not a traceback.
        raise click.ClickException(f"key store: {exc}") from None


@main.command()
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65534))
@click.option("--data-dir", default="var/demo", show_default=True)
def demo(port: int, data_dir: str) -> None:
    """IdP + a protected demo site + embedded Redis, with a slow admission rate."""
    from ..demo import run_demo

    run_demo(port, data_dir)


from .keys import keys_cli  # noqa: E402  (sub-groups register after the main group)
from .room import room_cli  # noqa: E402

main.add_command(keys_cli)
main.add_command(room_cli)
