"""Several app hosts: two `oidc-adapter serve` instances on two loopback addresses
(standing in for two machines) sharing one Redis and the Redis key store, behind
a real nginx that round-robins between them. A real relying party (node
openid-client) logs users in through the queue, each login's /authorize,
/token and /userinfo served by alternating hosts, while `oidc-adapter keys
rotate` runs on the side: no login fails."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.helpers import free_port, require

from .browser import Browser
from .nginx import admit_next, nginx_binary, run_nginx
from .servers import (
    NodeRp,
    Process,
    clean_env,
    cli_command,
    http_ok,
    require_node,
    to_toml,
)
from .tokens import kid_of, verify_id_token

pytestmark = pytest.mark.e2e

TEMPLATE = Path(__file__).parent / "nginx" / "multi_host.conf"
HOST_ADDRESSES = ("127.0.0.1", "127.0.0.3")
SECRET = "multi-host-secret-0123456789"
ADMIN_TOKEN = "multi-host-admin-token-0123456789"
HELD = {"mode": "queue_all", "admit_per_minute": 0}
LOGINS_BEFORE_ROTATION = 2
#: Users keep logging in after the rotation until one gets a token of the new
#: key: every worker re-reads the store every 2 s, so this is ample.
NEW_KEY_SECONDS = 20.0


class AppHost(Process):
    """`oidc-adapter serve` with two workers on `address`, as on its own machine."""

    def __init__(self, workdir: Path, address: str, config_path: Path, env: dict[str, str]):
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__(f"app-host-{address}", workdir / f"host-{address}.log")
        self.address = f"{address}:{free_port()}"
        self.config_path = config_path
        self.env = env

    def start(self) -> AppHost:
        args = ["serve", "--config", str(self.config_path), "--bind", self.address]
        self.spawn([*cli_command(), *args, "--workers", "2"], env=self.env)
        self.wait_ready(lambda: http_ok(f"http://{self.address}/readyz"), f"{self.name}")
        return self


class Balancer(Process):
    """nginx on 127.0.0.1 in front of `hosts` (tests/e2e/nginx/multi_host.conf)."""

    def __init__(self, workdir: Path, port: int, hosts: list[str]):
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__("nginx-balancer", workdir / "error.log")
        self.workdir = workdir
        self.port = port
        self.hosts = hosts
        self.access_log = workdir / "access.log"

    def start(self) -> Balancer:
        values = {
            "LISTEN": f"127.0.0.1:{self.port}",
            "SERVERS": " ".join(f"server {host};" for host in self.hosts),
        }
        ready = lambda: http_ok(f"http://127.0.0.1:{self.port}/healthz")  # noqa: E731
        run_nginx(self, TEMPLATE, values, ready, "nginx")
        return self

    def hops(self) -> list[tuple[str, int, str]]:
        """(path, status, host) of every request nginx passed on, in order."""
        lines = [line.split() for line in self.access_log.read_text().splitlines()]
        return [(uri, int(status), host) for _, uri, status, host in lines]


def keys_cli(config_path: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [*cli_command(), "keys", *args, "--config", str(config_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, f"keys {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


@pytest.fixture
def stack(tmp_path, redis_server, redis_client) -> Iterator[list[Process]]:
    """Everything started, stopped at teardown (the RP and nginx before the hosts)."""
    require_node()
    require(nginx_binary() is not None, "nginx is not installed")
    started: list[Process] = []
    yield started
    for process in reversed(started):
        process.stop()


def login(browser: Browser, rp: NodeRp, issuer: str) -> dict:
    """One user through the queue: held on the waiting page until an admin admits them."""
    response = browser.get(rp.protected_url)
    page = browser.waiting_page(response)
    assert response.headers.get("X-Upstream"), "nginx names the host that answered"
    assert page is not None and browser.ticket(page)["state"] == "waiting", response.text[:300]
    admit_next(issuer, ADMIN_TOKEN, "shop")
    done = browser.finish(response, deadline=30)
    assert done.status_code == 200 and "id_token" in done.text, (
        f"login failed: {done.status_code} at {done.url}:\n{done.text[:500]}"
    )
    shown = done.json()
    assert shown["userinfo"]["sub"] == shown["claims"]["sub"]
    return shown


def login_steps(hops: list[tuple[str, int, str]]) -> list[tuple[str, str, str]]:
    """Per completed login, the hosts of its code-issuing /authorize, /token, /userinfo."""
    wanted = {("/authorize", 302), ("/token", 200), ("/userinfo", 200)}
    steps = [(path, host) for path, status, host in hops if (path, status) in wanted]
    paths = [path for path, _ in steps]
    assert paths == ["/authorize", "/token", "/userinfo"] * (len(paths) // 3), paths
    hosts = [host for _, host in steps]
    return list(zip(hosts[0::3], hosts[1::3], hosts[2::3], strict=True))


def write_config(path: Path, issuer: str, redis_url: str, rp_port: int) -> Path:
    """One config for every host: the same Redis, secret_key and issuer, the keys in Redis."""
    path.write_text(
        to_toml(
            {
                "issuer": issuer,
                "redis_url": redis_url,
                "admin_token": ADMIN_TOKEN,
                "secret_key": secrets.token_urlsafe(32),  # shared by every host
                "keys_backend": "redis",
                "keys_dir": str(path.parent / "no-shared-folder"),  # stays empty
                "trusted_proxies": ["127.0.0.0/8"],
                "rooms": {"shop": HELD},
                "clients": {
                    "rp": {
                        "secret": SECRET,
                        "redirect_uris": [f"http://localhost:{rp_port}/callback"],
                        "room": "shop",
                        "initiate_login_uri": f"http://localhost:{rp_port}/protected",
                    }
                },
            }
        )
    )
    return path


def test_logins_cross_hosts_and_survive_a_key_rotation(stack, tmp_path, redis_server):
    kek = base64.b64encode(os.urandom(32)).decode()
    env = clean_env(OIDC_ADAPTER_KEY_ENCRYPTION_KEY=kek)
    balancer_port = free_port()
    issuer = f"http://localhost:{balancer_port}"  # the public URL: the load balancer's
    rp_port = free_port()
    config_path = write_config(tmp_path / "wait.toml", issuer, redis_server.url, rp_port)
    keys_cli(config_path, env, "generate")  # once, from any host: the store is in Redis
    hosts = []
    for address in HOST_ADDRESSES:
        stack.append(host := AppHost(tmp_path / "hosts", address, config_path, env))
        hosts.append(host.start())
    addresses = [host.address for host in hosts]
    stack.append(balancer := Balancer(tmp_path / "nginx", balancer_port, addresses))
    balancer.start()
    stack.append(rp := NodeRp(tmp_path / "rp", rp_port, issuer, "rp", SECRET, userinfo=True))
    rp.start()

    shown = [login(Browser(), rp, issuer) for _ in range(LOGINS_BEFORE_ROTATION)]
    old_kid = kid_of(shown[0]["id_token"])
    # The rotation runs while the next users log in, as an operator's would.
    rotation = subprocess.Popen(
        [*cli_command(), "keys", "rotate", "--config", str(config_path)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    shown.append(login(Browser(), rp, issuer))
    out, _ = rotation.communicate(timeout=60)
    assert rotation.returncode == 0, out
    new_kid = next(line.split()[1] for line in out.splitlines() if line.startswith("active:"))
    deadline = time.monotonic() + NEW_KEY_SECONDS
    while kid_of(shown[-1]["id_token"]) != new_kid and time.monotonic() < deadline:
        shown.append(login(Browser(), rp, issuer))

    kids = [kid_of(s["id_token"]) for s in shown]
    assert kids[0] == old_kid != new_kid == kids[-1], kids
    assert set(kids) == {old_kid, new_kid}
    jwks = requests.get(f"{issuer}/.well-known/jwks.json", timeout=10).json()
    for s in shown:  # the retired key stays published: every token still verifies
        verify_id_token(s["id_token"], jwks, issuer, "rp")
    assert len({s["claims"]["sub"] for s in shown}) == len(shown)

    per_login = login_steps(balancer.hops())
    assert len(per_login) == len(shown)
    for authorize, token, userinfo in per_login:
        assert authorize != token != userinfo, per_login
    assert {host for hops in per_login for host in hops} == set(balancer.hosts)
    assert {host for _, _, host in balancer.hops()} == set(balancer.hosts)
