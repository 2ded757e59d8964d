"""Real nginx gated by `auth_request`, and our adapter as `oidc-adapter serve`.

Both run on 127.0.0.1 with everything (config, pid, logs, temp files) in a
work directory, and stop when their `with` block ends. Shared by
tests/e2e/test_nginx_auth_request.py, tests/e2e/test_nginx_gate_cache.py (with
the cached gate operators copy from docs/nginx/) and bench/authorizer_bench.py.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from oidc_adapter.keys import KeyStore
from tests.helpers import free_port

TEMPLATE = Path(__file__).with_name("auth_request.conf")
TLS_TEMPLATE = Path(__file__).with_name("tls_proxy.conf")
REDIRECT_TEMPLATE = Path(__file__).with_name("redirect.conf")
CACHE_TEMPLATE = Path(__file__).with_name("auth_request_cache.conf")
#: The cached gate as operators copy it (docs/integrations.md).
SHIPPED_GATE = Path(__file__).parents[3] / "docs" / "nginx"
START_SECONDS = 30.0
PAGE = b"<!doctype html><title>shop</title><p>the protected page</p>\n"
ADMIN_TOKEN = "nginx-e2e-admin-token-0123456789"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def adapter_command() -> str:
    return shutil.which("oidc-adapter") or str(Path(sys.executable).with_name("oidc-adapter"))


def wait_until(probe: Callable[[], bool], what: str, timeout: float = START_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _answers(url: str, status: int | None = None) -> bool:
    try:
        got = requests.get(url, timeout=2).status_code
    except requests.RequestException:
        return False
    return status is None or got == status


def _toml(data: dict[str, Any]) -> str:
    """Scalars, then [group.name] tables; JSON strings and arrays are valid TOML."""
    lines = [f"{k} = {json.dumps(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for group, tables in data.items():
        if isinstance(tables, dict):
            for name, table in tables.items():
                lines += [
                    f"[{group}.{name}]",
                    *(f"{k} = {json.dumps(v)}" for k, v in table.items()),
                ]
    return "\n".join(lines) + "\n"


def admit_next(base_url: str, admin_token: str, room: str) -> None:
    """The operator lets the next person of `room` in (admin API)."""
    answer = requests.post(
        f"{base_url}/admin/rooms/{room}/admit",
        json={"count": 1},
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=10,
    )
    assert answer.status_code == 200 and answer.json()["admitted"] == 1, answer.text


def run_nginx(
    server: Any, template: Path, values: dict[str, str], ready: Callable[[], bool], what: str
) -> None:
    """Render `template` (@WORKDIR@ and `values` as @KEY@) into the server's work
    directory and start nginx there; `server` is one of the harness's child processes."""
    binary = nginx_binary()
    assert binary is not None, "nginx is not installed"
    (server.workdir / "temp").mkdir(exist_ok=True)
    text = template.read_text().replace("@WORKDIR@", str(server.workdir))
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    conf = server.workdir / "nginx.conf"
    conf.write_text(text)
    server.spawn([binary, "-p", str(server.workdir), "-e", str(server.log_path), "-c", str(conf)])
    server.wait_ready(ready, what)


@contextmanager
def started_servers() -> Iterator[list[_Child]]:
    """Servers appended to the list stop in reverse order at the end, and their
    logs are printed when starting them (or the test's setup) failed."""
    started: list[_Child] = []
    try:
        yield started
    except BaseException:
        print("\n".join(server.log_tail() for server in started))
        raise
    finally:
        for server in reversed(started):
            server.stop()


class _Child:
    """A child process logging to a file, stopped by SIGTERM (SIGKILL if it hangs)."""

    def __init__(self, name: str, log_path: Path):
        self.name = name
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self, args: list[str], env: dict[str, str] | None = None) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )

    def wait_ready(self, probe: Callable[[], bool], what: str) -> None:
        def ready() -> bool:
            if self.proc is None or self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited while starting:\n{self.log_tail()}")
            return probe()

        wait_until(ready, what)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return f"--- {self.name} ---\n" + "\n".join(text.splitlines()[-lines:])

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Adapter(_Child):
    """`oidc-adapter serve` with a TOML config and a fresh key store in `workdir`."""

    def __init__(
        self,
        workdir: Path,
        redis_url: str,
        rooms: dict[str, dict[str, Any]],
        clients: dict[str, dict[str, Any]],
        workers: int = 1,
    ):
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__("oidc-adapter", workdir / "adapter.log")
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.config = {
            "issuer": self.url,
            "redis_url": redis_url,
            "admin_token": ADMIN_TOKEN,
            "secret_key": secrets.token_urlsafe(32),
            "keys_dir": str(workdir / "keys"),
            "data_dir": str(workdir / "data"),
            "rooms": rooms,
            "clients": clients,
        }

    def start(self) -> Adapter:
        KeyStore(Path(self.config["keys_dir"])).ensure()
        config = self.workdir / "adapter.toml"
        config.write_text(_toml(self.config))
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("OIDC_ADAPTER_") and k != "REDIS_URL"
        }
        bind = f"127.0.0.1:{self.port}"
        args = ["serve", "--config", str(config), "--bind", bind, "--workers", str(self.workers)]
        self.spawn([adapter_command(), *args], env=env)
        self.wait_ready(lambda: _answers(f"{self.url}/readyz", 200), "the adapter's /readyz")
        return self


class Nginx(_Child):
    """nginx serving PAGE at / behind auth_request (and at /open/ without it).

    `template` may be another config with the same placeholders (plus @ISSUER@,
    the adapter's public URL), e.g. REDIRECT_TEMPLATE.
    """

    def __init__(
        self,
        workdir: Path,
        adapter_port: int,
        room: str,
        template: Path = TEMPLATE,
        issuer: str = "",
    ):
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__("nginx", workdir / "error.log")
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.adapter_port = adapter_port
        self.room = room
        self.template = template
        self.issuer = issuer

    def start(self) -> Nginx:
        (self.workdir / "site").mkdir(exist_ok=True)
        (self.workdir / "site" / "index.html").write_bytes(PAGE)
        values = {
            "PORT": f"127.0.0.1:{self.port}",
            "ADAPTER": f"127.0.0.1:{self.adapter_port}",
            "ROOM": self.room,
            "ISSUER": self.issuer,
        }
        ready = lambda: _answers(f"{self.url}/open/", 200)  # noqa: E731
        run_nginx(self, self.template, values, ready, "nginx to serve /open/")
        return self


#: The room and site of the nginx tests; the shipped cached gate names this room.
SHOP_ROOM = "shop"
SHOP_CLIENT_ID = "shop-site"
SHOP_CLIENT_SECRET = "shop-site-secret-0123456789"


def shop_adapter(workdir: Path, redis_url: str) -> Adapter:
    """The adapter for room `shop`, whose site is a registered client (to end sessions)."""
    rooms = {SHOP_ROOM: {"admit_per_minute": 6000, "max_active": 0, "session_seconds": 600}}
    clients = {
        SHOP_CLIENT_ID: {
            "secret": SHOP_CLIENT_SECRET,
            "redirect_uris": ["http://127.0.0.1/cb"],
            "room": SHOP_ROOM,
        }
    }
    return Adapter(workdir, redis_url, rooms, clients)


def admitted_token(adapter_url: str, room: str) -> tuple[str, str]:
    """(session id, access token) of a visitor let in through the direct API."""
    taken = requests.post(f"{adapter_url}/api/rooms/{room}/tickets", timeout=10).json()
    assert taken["state"] == "served", taken
    issued = requests.post(
        f"{adapter_url}/api/rooms/{room}/tickets/{taken['ticket']}/token",
        headers={"Authorization": f"Ticket {taken['ticket_secret']}"},
        timeout=10,
    )
    assert issued.status_code == 200, issued.text
    return taken["ticket"], issued.json()["access_token"]


def end_session(adapter_url: str, token: str) -> None:
    """The shop's site ends the session early (POST /api/sessions/end)."""
    credentials = base64.b64encode(f"{SHOP_CLIENT_ID}:{SHOP_CLIENT_SECRET}".encode()).decode()
    ended = requests.post(
        f"{adapter_url}/api/sessions/end",
        data={"token": token},
        headers={"Authorization": f"Basic {credentials}"},
        timeout=10,
    )
    assert ended.status_code == 200 and ended.json()["ended"] is True, ended.text


class CachedNginx(Nginx):
    """Nginx gated by the shipped cached-gate snippets, changed only where an
    operator must change them: the waiting room's address and the cache path."""

    def __init__(self, workdir: Path, adapter_port: int):
        super().__init__(workdir, adapter_port, SHOP_ROOM, CACHE_TEMPLATE)

    def start(self) -> CachedNginx:
        edits = {
            "wait.internal:8000": f"127.0.0.1:{self.adapter_port}",
            "/var/cache/nginx/waiting_room": str(self.workdir / "cache"),
        }
        for name in ("waiting-room-http.conf", "waiting-room-gate.conf"):
            text = (SHIPPED_GATE / name).read_text()
            for shipped, local in edits.items():
                text = text.replace(shipped, local)
            (self.workdir / name).write_text(text)
        http = (self.workdir / "waiting-room-http.conf").read_text()
        assert all(local in http for local in edits.values()), "the shipped config moved on"
        super().start()
        return self


def self_signed(workdir: Path, address: str) -> Path:
    """A certificate for `address` (as an IP SAN) and its key; returns the cert path."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    (workdir / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path = workdir / "cert.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


class TlsProxy(_Child):
    """nginx terminating TLS on `address` (another loopback alias) before the adapter."""

    def __init__(self, workdir: Path, address: str = "127.0.0.2"):
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__("nginx-tls", workdir / "error.log")
        self.workdir = workdir
        self.address = address
        self.port = free_port()
        self.url = f"https://{address}:{self.port}"
        self.cert = self_signed(workdir, address)

    def start(self, adapter_port: int) -> TlsProxy:
        values = {
            "LISTEN": f"{self.address}:{self.port}",
            "ADAPTER": f"127.0.0.1:{adapter_port}",
            "SOURCE": self.address,
        }
        run_nginx(self, TLS_TEMPLATE, values, self._answers, "nginx to terminate TLS")
        return self

    def _answers(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthz", verify=str(self.cert), timeout=2).ok
        except requests.RequestException:
            return False
