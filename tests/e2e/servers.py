"""Real servers for the end-to-end tests, each on 127.0.0.1 and stopped by the harness.

Our provider runs under gunicorn exactly as `oidc-adapter serve` runs it in
production; the relying parties are ones we did not write: Apache httpd with
mod_auth_openidc, and a small node app on openid-client.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import requests

from oidc_adapter.keys import KeyStore
from tests.helpers import free_port, require

T = TypeVar("T")

START_SECONDS = 30.0
STOP_SECONDS = 10.0
NODE_DIR = Path(__file__).parent / "node"
APACHE_MODULES = Path("/usr/lib/apache2/modules")
APACHE_MODULE_FILES = {
    "mpm_event_module": "mod_mpm_event.so",
    "authn_core_module": "mod_authn_core.so",
    "authz_core_module": "mod_authz_core.so",
    "authz_user_module": "mod_authz_user.so",
    "dir_module": "mod_dir.so",
    "include_module": "mod_include.so",
    "auth_openidc_module": "mod_auth_openidc.so",
}


def wait_until(probe: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def cli_command() -> list[str]:
    found = shutil.which("oidc-adapter") or str(Path(sys.executable).with_name("oidc-adapter"))
    require(Path(found).exists(), "the oidc-adapter console script is not installed")
    return [found]


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment minus anything that would reconfigure the adapter."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OIDC_ADAPTER_") and k not in ("REDIS_URL",)
    }
    env.update(extra)
    return env


def run_cli(*args: str) -> str:
    done = subprocess.run(
        [*cli_command(), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        check=False,
    )
    assert done.returncode == 0, f"oidc-adapter {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str | list):
        return json.dumps(value)  # JSON strings and string arrays are valid TOML
    raise TypeError(f"no TOML form for {value!r}")


def to_toml(data: dict[str, Any]) -> str:
    """Just enough TOML for the adapter config: scalars, then [group.name] tables."""
    lines = [f"{k} = {toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for group, tables in data.items():
        if isinstance(tables, dict):
            for name, table in tables.items():
                lines += ["", f"[{group}.{name}]"]
                lines += [f"{k} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


class Process:
    """A child process with its output in a log file, stopped by a signal then SIGKILL."""

    stop_signal = signal.SIGTERM

    def __init__(self, name: str, log_path: Path):
        self.name = name
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self, args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
                start_new_session=True,  # its own process group, to kill if it hangs
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, probe: Callable[[], bool], what: str) -> None:
        def ready() -> bool:
            if not self.alive():
                raise AssertionError(f"{self.name} exited while starting:\n{self.log_tail()}")
            return probe()

        wait_until(ready, START_SECONDS, what)

    def signal_stop(self) -> None:
        """Ask it to stop without waiting, so several servers stop at once."""
        if self.alive():
            self.proc.send_signal(self.stop_signal)  # type: ignore[union-attr]

    def stop(self) -> None:
        if self.proc is None:
            return
        self.signal_stop()
        try:
            self.proc.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            warnings.warn(
                f"{self.name} did not stop within {STOP_SECONDS}s of a signal; "
                f"killed its process group. Log tail:\n{self.log_tail(15)}",
                stacklevel=2,
            )
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def http_answers(url: str) -> bool:
    try:
        requests.get(url, timeout=2, allow_redirects=False)
    except requests.RequestException:
        return False
    return True


class Provider(Process):
    """Our IdP as `oidc-adapter serve` (gunicorn, two workers) on a free port."""

    ADMIN_TOKEN = "e2e-admin-token-0123456789abcdef"
    # Graceful, as `docker stop` and systemd do. gunicorn 27's quick shutdown
    # (SIGINT/SIGQUIT) can deadlock a gthread worker when the signal lands while
    # the worker is handing a connection to its thread pool (the handler calls
    # ThreadPoolExecutor.shutdown() under the lock submit() holds).
    stop_signal = signal.SIGTERM

    def __init__(self, workdir: Path, redis_url: str, rooms: dict, clients: dict):
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__("provider", workdir / "provider.log")
        self.port = free_port()
        self.url = f"http://localhost:{self.port}"
        self.keys_dir = workdir / "keys"
        self.config_path = workdir / "adapter.toml"
        self.config = {
            "issuer": self.url,
            "redis_url": redis_url,
            "admin_token": self.ADMIN_TOKEN,
            "secret_key": secrets.token_urlsafe(32),
            "keys_dir": str(self.keys_dir),
            "data_dir": str(workdir / "data"),
            "rooms": rooms,
            "clients": clients,
        }

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def start(self) -> Provider:
        KeyStore(self.keys_dir).generate()  # what `oidc-adapter keys generate` does
        self.config_path.write_text(to_toml(self.config))
        self.spawn(
            [
                *cli_command(),
                "serve",
                "--config",
                str(self.config_path),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
            ],
            env=clean_env(),
        )
        self.wait_ready(lambda: http_ok(f"{self.url}/readyz"), "the provider's /readyz")
        return self

    def cli(self, *args: str) -> str:
        """`oidc-adapter room ...` against this provider's config and Redis."""
        return run_cli(*args, "--config", str(self.config_path))

    def admin(self, method: str, path: str, body: dict | None = None) -> dict:
        response = requests.request(
            method,
            f"{self.url}/admin{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.ADMIN_TOKEN}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def jwks(self) -> dict:
        response = requests.get(f"{self.url}/.well-known/jwks.json", timeout=10)
        assert response.status_code == 200
        return response.json()


def apache_binary() -> str | None:
    return shutil.which("apache2") or shutil.which("apache2", path="/usr/sbin:/usr/local/sbin")


def require_apache() -> str:
    binary = apache_binary()
    require(binary is not None, "apache2 is not installed (Debian package apache2)")
    missing = [f for f in APACHE_MODULE_FILES.values() if not (APACHE_MODULES / f).exists()]
    require(
        not missing,
        f"Apache modules missing: {', '.join(missing)} (libapache2-mod-auth-openidc)",
    )
    return binary  # type: ignore[return-value]


PROTECTED_PAGE = """<!doctype html>
<title>Protected</title>
<h1>Protected page</h1>
<p>sub=<span id="sub"><!--#echo var="OIDC_CLAIM_sub" --></span></p>
<p>aud=<span id="aud"><!--#echo var="OIDC_CLAIM_aud" --></span></p>
<p>room=<span id="room"><!--#echo var="OIDC_CLAIM_room" --></span></p>
<p>id_token=<span id="id_token"><!--#echo var="OIDC_id_token" --></span></p>
"""
PAGE_VALUE = re.compile(r'<span id="([a-z_]+)">([^<]*)</span>')


class Apache(Process):
    """httpd + mod_auth_openidc protecting /protected/, with our own minimal httpd.conf.

    The protected page shows (by SSI) the claims and the serialized ID token
    that mod_auth_openidc accepted and passed to the application.
    """

    def __init__(
        self,
        workdir: Path,
        port: int,
        metadata_url: str,
        client_id: str,
        client_secret: str,
        *,
        token_auth: str = "client_secret_basic",
        pkce: bool = True,
        state_timeout: int | None = None,
    ):
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__(f"apache:{port}", workdir / "error.log")
        self.binary = require_apache()
        self.workdir = workdir
        self.port = port
        self.url = f"http://localhost:{port}"
        self.protected_url = f"{self.url}/protected/"
        self.redirect_uri = f"{self.url}/protected/redirect_uri"
        self.directives = [
            f'OIDCProviderMetadataURL "{metadata_url}"',
            f'OIDCClientID "{client_id}"',
            f'OIDCClientSecret "{client_secret}"',
            f'OIDCRedirectURI "{self.redirect_uri}"',
            f'OIDCCryptoPassphrase "{secrets.token_urlsafe(24)}"',
            'OIDCScope "openid"',
            f"OIDCProviderTokenEndpointAuth {token_auth}",
            "OIDCPassIDTokenAs claims serialized",
            "OIDCJWKSRefreshInterval 3600",
        ]
        if pkce:
            self.directives.append("OIDCPKCEMethod S256")
        if state_timeout is not None:
            self.directives.append(f"OIDCStateTimeout {state_timeout}")
        self.docroot: Path | None = None

    def _write_docroot(self) -> Path:
        # Apache's children drop root for www-data, which cannot enter pytest's
        # private tmp dirs: the pages go to a world-readable dir of our own.
        root = Path(tempfile.mkdtemp(prefix="e2e-apache-"))
        root.chmod(0o755)
        (root / "protected").mkdir(mode=0o755)
        page = root / "protected" / "index.html"
        page.write_text(PROTECTED_PAGE)
        page.chmod(0o644)
        return root

    def _conf(self, docroot: Path) -> str:
        user = ["User www-data", "Group www-data"] if os.geteuid() == 0 else []
        modules = [f"LoadModule {m} {APACHE_MODULES / f}" for m, f in APACHE_MODULE_FILES.items()]
        return "\n".join(
            [
                f'ServerRoot "{self.workdir}"',
                "ServerName localhost",
                f"Listen 127.0.0.1:{self.port}",
                f'PidFile "{self.workdir}/httpd.pid"',
                f'DefaultRuntimeDir "{self.workdir}"',
                f'ErrorLog "{self.log_path}"',
                "LogLevel warn auth_openidc:info",
                *user,
                *modules,
                f'DocumentRoot "{docroot}"',
                "DirectoryIndex index.html",
                f'<Directory "{docroot}">',
                "  Require all granted",
                "  Options +Includes",
                "  ForceType text/html",
                "  SetOutputFilter INCLUDES",
                "</Directory>",
                *self.directives,
                "<Location /protected>",
                "  AuthType openid-connect",
                "  Require valid-user",
                "</Location>",
                "",
            ]
        )

    def start(self) -> Apache:
        self.docroot = self._write_docroot()
        conf = self.workdir / "httpd.conf"
        conf.write_text(self._conf(self.docroot))
        self.spawn([self.binary, "-f", str(conf), "-DFOREGROUND"], env=clean_env())
        self.wait_ready(lambda: http_answers(f"{self.url}/"), f"Apache on port {self.port}")
        return self

    def stop(self) -> None:
        super().stop()
        if self.docroot is not None:
            shutil.rmtree(self.docroot, ignore_errors=True)
            self.docroot = None

    def logged_in(self, session: requests.Session) -> bool:
        """Does mod_auth_openidc let this browser in without a new login?"""
        response = session.get(self.protected_url, timeout=10, allow_redirects=False)
        return response.status_code == 200

    @staticmethod
    def page_values(response: requests.Response) -> dict[str, str] | None:
        """The values on the protected page, or None if this is not that page."""
        if response.status_code != 200 or "<h1>Protected page</h1>" not in response.text:
            return None
        return dict(PAGE_VALUE.findall(response.text))


def require_node() -> str:
    node = shutil.which("node")
    require(node is not None, "node is not installed")
    require(
        (NODE_DIR / "node_modules" / "openid-client").is_dir(),
        "openid-client is not installed: run `npm ci` in tests/e2e/node",
    )
    return node  # type: ignore[return-value]


class NodeRp(Process):
    """tests/e2e/node/rp.mjs: an openid-client RP protecting /protected."""

    def __init__(
        self,
        workdir: Path,
        port: int,
        issuer: str,
        client_id: str,
        client_secret: str,
        *,
        token_auth: str = "client_secret_post",
        nonce: bool = True,
        pkce: bool = True,
        userinfo: bool = False,
        metadata_url: str | None = None,
        id_token_alg: str | None = None,
    ):
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__(f"node-rp:{port}", workdir / "node-rp.log")
        self.node = require_node()
        self.port = port
        self.url = f"http://localhost:{port}"
        self.protected_url = f"{self.url}/protected"
        self.redirect_uri = f"{self.url}/callback"
        self.env = clean_env(
            PORT=str(port),
            ISSUER=issuer,
            CLIENT_ID=client_id,
            CLIENT_SECRET=client_secret,
            AUTH=token_auth,
            NONCE="1" if nonce else "0",
            PKCE="1" if pkce else "0",
            USERINFO="1" if userinfo else "0",
        )
        if metadata_url:
            self.env["METADATA_URL"] = metadata_url
        if id_token_alg:
            self.env["ID_TOKEN_ALG"] = id_token_alg

    def start(self) -> NodeRp:
        self.spawn([self.node, str(NODE_DIR / "rp.mjs")], env=self.env, cwd=NODE_DIR)
        self.wait_ready(lambda: http_ok(f"{self.url}/healthz"), f"the node RP on port {self.port}")
        return self
