"""`oidc-adapter room ...`: the operator actions of the /admin API, from a shell."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..room import shuffle
from ..room.engine import RoomEngine, UnknownTicket
from ..room.present import room_json
from ..room.settings import parse_setting_changes
from ..room.states import REVOKED
from .common import OPAQUE_ID_COMMAND, config_option, engine_for, print_json


def _room_arg(engine: RoomEngine, room: str) -> str:
    if room not in engine.rooms:
        raise click.BadParameter(f"no room {room!r} in the config", param_hint="ROOM")
    return room


@click.group("room")
def room_cli() -> None:
    """Operator actions on rooms (the same as the /admin API)."""


@room_cli.command("list")
@config_option
def room_list(config_path: str) -> None:
    """Every room with its live counters, as JSON."""
    engine = engine_for(config_path)
    print_json([room_json(engine.state(name)) for name in engine.rooms])


@room_cli.command("show")
@config_option
@click.argument("name")
def room_show(config_path: str, name: str) -> None:
    """One room: live counters, settings and operator overrides, as JSON."""
    engine = engine_for(config_path)
    view = engine.state(_room_arg(engine, name))
    print_json({**room_json(view), "settings": view.settings, "overrides": engine.overrides(name)})


@room_cli.command("set")
@config_option
@click.argument("name")
@click.argument("assignments", nargs=-1, required=True)
def room_set(config_path: str, name: str, assignments: tuple[str, ...]) -> None:
    """Change live settings: KEY=VALUE ... (KEY= drops the override)."""
    engine = engine_for(config_path)
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
    print_json(room_json(engine.configure(name, changes)))


def _int(value: str) -> int | str:
    try:
        return int(value)
    except ValueError:
        return value


@room_cli.command("admit")
@config_option
@click.argument("name")
@click.argument("count", type=click.IntRange(1, 100_000))
def room_admit(config_path: str, name: str, count: int) -> None:
    """Serve the next COUNT waiting tickets now (never past max_active)."""
    engine = engine_for(config_path)
    _, admitted = engine.admit(_room_arg(engine, name), count)
    click.echo(f"admitted {admitted} of {count}")


def _mode_command(command_name: str, mode: str | None, help_text: str) -> None:
    """pause / resume / close; resume (mode None) returns to the configured mode."""

    @room_cli.command(command_name, help=help_text)
    @config_option
    @click.argument("name")
    def command(config_path: str, name: str) -> None:
        engine = engine_for(config_path)
        _room_arg(engine, name)
        view = engine.resume(name) if mode is None else engine.configure(name, {"mode": mode})
        click.echo(f"{name}: mode {view.mode}")


_mode_command("pause", "paused", "Stop admitting; everyone keeps their place.")
_mode_command("resume", None, "Admit again, in the configured mode.")
_mode_command("close", "closed", "Take no new tickets.")


@room_cli.command("revoke", **OPAQUE_ID_COMMAND)
@config_option
@click.argument("name")
@click.argument("ticket")
def room_revoke(config_path: str, name: str, ticket: str) -> None:
    """End a ticket's turn or session now and free its slot."""
    engine = engine_for(config_path)
    try:
        view = engine.finish(_room_arg(engine, name), ticket, REVOKED)
    except UnknownTicket:
        click.echo(f"no ticket {ticket!r} in room {name}", err=True)
        sys.exit(1)
    click.echo(f"{ticket}: {view.state}")


@room_cli.command("compact")
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
    engine = engine_for(config_path)
    forgotten = engine.compact(_room_arg(engine, name), older_than)
    click.echo(f"{name}: forgot {forgotten} ended ticket(s)")


@room_cli.command("reset")
@config_option
@click.argument("name")
@click.option("--yes", is_flag=True, help="Confirm: every ticket in the room is dropped.")
def room_reset(config_path: str, name: str, yes: bool) -> None:
    """Drop every ticket and session of a room."""
    if not yes:
        click.echo("refusing to reset without --yes (every ticket is dropped)", err=True)
        sys.exit(2)
    engine = engine_for(config_path)
    engine.reset(_room_arg(engine, name))
    click.echo(f"{name}: reset")


@room_cli.command("audit")
@config_option
@click.argument("name")
@click.option("--order", "show_order", is_flag=True, help="Also print every place's ticket.")
def room_audit(config_path: str, name: str, show_order: bool) -> None:
    """Check a timed sale's shuffle: the published seed matches the commitment,
    and the order recomputed from it is the one the room serves. Exits 1 when
    either check fails, 2 when there is nothing to check yet."""
    engine = engine_for(config_path)
    schedule = engine.state(_room_arg(engine, name)).schedule
    if schedule is None or schedule.seed is None:
        phase = schedule.phase if schedule else "no timed sale"
        click.echo(f"{name}: no seed published yet ({phase})", err=True)
        sys.exit(2)
    size = schedule.prequeue_size
    order = list(shuffle.order(schedule.seed, size))
    report: dict[str, Any] = {
        "room": name,
        "seed": schedule.seed,
        "commitment": schedule.commitment,
        "commitment_ok": shuffle.commitment(schedule.seed) == schedule.commitment,
        "prequeue_size": size,
        "matches_room": engine.prequeue_order(name) == order,
    }
    if show_order:
        report["order"] = order
    print_json(report)
    if not (report["commitment_ok"] and report["matches_room"]):
        sys.exit(1)
