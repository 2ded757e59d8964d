"""Runs the app under gunicorn, with the embedded Redis owned by the master.

The embedded server must be started before gunicorn forks so that every
worker talks to the same one; workers then get its unix socket as REDIS_URL.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from .app import create_app
from .config import Config
from .keys import store_for
from .redis_connection import EmbeddedRedis
from .return_to import TOKEN_PARAM

#: The handoff token's value, plain or inside an encoded URL (`%3D`); a real
#: token (a JWT) has no `%`, so the match stops before any encoded delimiter.
HANDOFF_VALUE = re.compile(rf"({TOKEN_PARAM}(?:=|%3D))[^&\s\"%]*", re.IGNORECASE)
SCRUBBED = r"\1[scrubbed]"


def scrub(text: str) -> str:
    return HANDOFF_VALUE.sub(SCRUBBED, text)


class ScrubbingLogger(Logger):
    """gunicorn's logger minus the handoff token: it rides in a URL for a few
    seconds (docs/integrations.md), and no access log line may keep it, whatever
    the format prints (request line, query, Referer, a Location header...)."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict:
        found = super().atoms(resp, req, environ, request_time)
        return {key: scrub(v) if isinstance(v, str) else v for key, v in found.items()}


class GunicornApp(BaseApplication):
    """gunicorn with options set in code; `factory` runs in each worker after the fork."""

    def __init__(self, factory: Callable[[], Flask], options: dict[str, Any]):
        self._factory = factory
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self._factory()


def gunicorn_options(bind: str, workers: int, threads: int = 4) -> dict[str, Any]:
    """The production options; the benchmark runs with the same ones."""
    return {
        "bind": bind,
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "timeout": 30,
        "graceful_timeout": 20,
        "keepalive": 5,
        "accesslog": "-",
        "errorlog": "-",
        "logger_class": ScrubbingLogger,
        # Proxy headers are judged once, by the app (web/proxies.py, trusted_proxies):
        # gunicorn must not apply its own, looser rule to the scheme first.
        "forwarded_allow_ips": "",
        # One shared control socket path would make two servers on a host collide.
        "control_socket_disable": True,
    }


def run(config: Config, bind: str, workers: int, threads: int = 4) -> None:
    """Serve until stopped; an embedded Redis started here stops with us."""
    embedded = None
    if config.redis_url is None:
        embedded = EmbeddedRedis(config.data_dir / "redis")
        config = config.model_copy(update={"redis_url": embedded.url})
    try:
        # First start on a fresh machine: create the signing keys before any worker
        # needs them (a no-op when every algorithm in use has an active key); after
        # the embedded Redis is up, which the Redis key store lives in.
        store_for(config).ensure()
        GunicornApp(partial(create_app, config), gunicorn_options(bind, workers, threads)).run()
    finally:
        if embedded is not None:
            embedded.close()
