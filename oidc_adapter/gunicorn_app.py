"""Runs the app under gunicorn, with the embedded Redis owned by the master.

The embedded server must be started before gunicorn forks so that every
worker talks to the same one; workers then get its unix socket as REDIS_URL.
The master also owns the metrics folder every worker counts in
(PROMETHEUS_MULTIPROC_DIR) and, with `metrics_bind`, the internal address
that serves /metrics.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger
from prometheus_client import multiprocess

from .app import create_app
from .config import Config
from .keys import store_for
from .redis_connection import EmbeddedRedis, open_redis
from .return_to import TOKEN_PARAM
from .room.engine import RoomEngine
from .web.metrics import MULTIPROC_DIR, metrics_wsgi_app

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
        "child_exit": worker_exited,
    }


def worker_exited(server: Any, worker: Any) -> None:
    """A dead worker's live gauges must not count any more; its counters still do.
    (Without a metrics folder, as in the benchmark's server, there is nothing to mark.)"""
    if os.environ.get(MULTIPROC_DIR):
        multiprocess.mark_process_dead(worker.pid)


@contextmanager
def master_cleanup() -> Iterator[ExitStack]:
    """Callbacks that run when the master leaves run(), and never in a worker: gunicorn
    forks its workers inside run(), and a worker leaves by SystemExit, which unwinds
    through this same frame. (Plain callbacks, not generators: a worker's garbage
    collector would finish a suspended generator and run its cleanup.)"""
    master = os.getpid()
    cleanup = ExitStack()
    try:
        yield cleanup
    finally:
        if os.getpid() == master:
            cleanup.close()


def metrics_folder(cleanup: ExitStack) -> Path:
    """The workers' shared metric files: PROMETHEUS_MULTIPROC_DIR as given (its old
    files removed: they are a previous run's counts), else a temporary folder."""
    given = os.environ.get(MULTIPROC_DIR)
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.db"):
            old.unlink()
        return folder
    folder = Path(tempfile.mkdtemp(prefix="oidc-adapter-metrics-"))
    os.environ[MULTIPROC_DIR] = str(folder)
    cleanup.callback(shutil.rmtree, folder, ignore_errors=True)
    cleanup.callback(os.environ.pop, MULTIPROC_DIR, None)
    return folder


class IPv6Server(WSGIServer):
    address_family = socket.AF_INET6


class QuietHandler(WSGIRequestHandler):
    """Scrapes every few seconds would drown the log."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        pass


def metrics_server(config: Config, cleanup: ExitStack) -> WSGIServer | None:
    """/metrics on `metrics_bind`, answered by a thread of the master from the
    workers' files and the rooms' state; nothing without `metrics_bind`."""
    if not config.metrics_bind:
        return None
    host, _, port = config.metrics_bind.rpartition(":")
    client, _ = open_redis(config)
    cleanup.callback(client.close)
    app = metrics_wsgi_app(RoomEngine(client, config.rooms), config.metrics_token)
    server_class = IPv6Server if host.startswith("[") else WSGIServer
    server = make_server(host.strip("[]"), int(port), app, server_class, QuietHandler)
    cleanup.callback(server.server_close)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    cleanup.callback(server.shutdown)
    return server


def run(config: Config, bind: str, workers: int, threads: int = 4) -> None:
    """Serve until stopped; an embedded Redis started here stops with us."""
    options = gunicorn_options(bind, workers, threads)
    if config.log_format == "json":
        options["accesslog"] = None  # the app writes one JSON line per request instead
    with master_cleanup() as cleanup:
        if config.redis_url is None:
            embedded = EmbeddedRedis(config.data_dir / "redis")
            cleanup.callback(embedded.close)
            config = config.model_copy(update={"redis_url": embedded.url})
        # First start on a fresh machine: create the signing keys before any worker
        # needs them (a no-op when every algorithm in use has an active key); after
        # the embedded Redis is up, which the Redis key store lives in.
        store_for(config).ensure()
        metrics_folder(cleanup)
        metrics_server(config, cleanup)
        GunicornApp(partial(create_app, config), options).run()
