"""A real stack for the waiting page in a real browser.

The adapter runs as `oidc-adapter serve` (gunicorn) on the session's
throwaway Redis; each room gets its own protected site, the demo's relying
party (`python -m oidc_adapter.demo_site`), which logs in through the room
with Authlib. Chromium is Debian's, driven by Playwright; nothing is
downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from oidc_adapter.keys import KeyStore

from ..conftest import ADMIN_TOKEN
from ..helpers import free_port, require

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CLIENT_SECRET = "browser-test-secret-0123456789"
#: Rooms admit nobody by themselves (the test is the operator). A 30 s grace
#: gives a 7 s heartbeat, which is also the no-JavaScript refresh interval.
BASE_ROOM = {"admit_per_minute": 0, "max_active": 0, "waiting_grace_seconds": 30}
LOGO_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="160" height="40" viewBox="0 0 160 40">'
    '<rect width="160" height="40" rx="6" fill="#7a1fa2"/>'
    '<text x="80" y="26" font-family="sans-serif" font-size="18" fill="#fff" '
    'text-anchor="middle">ACME</text></svg>'
)
ROOMS: dict[str, dict[str, Any]] = {
    "flow": {},
    "pow": {},  # proof of work switched on by its test: no other test meets it
    "dash": {},  # the dashboard's rush and rate change: no other test meets them
    "nojs": {},
    "tabs": {},
    "polls": {},
    "expire": {"claim_seconds": 15},
    "leave": {},
    "shots": {
        "title": "Summer sale: you are in line",
        "message": "Thanks for waiting. The shop lets people in a few at a time.",
    },
    "modes": {
        "title": "<script>window.__xss = 1</script> Sale",
        "message": '<img src=x onerror="window.__xss = 2"> & welcome',
        "brand_color": "#7a1fa2",
        "logo": "logo.svg",
        "logo_alt": "ACME shop",
    },
}


@dataclass
class Stack:
    issuer: str
    workdir: Path
    site_ports: dict[str, int]
    sites: dict[str, str] = field(default_factory=dict)
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def site(self, room: str) -> str:
        """The protected site of `room`, started on first use."""
        if room not in self.sites:
            port = self.site_ports[room]
            url = f"http://127.0.0.1:{port}"
            env = dict(
                os.environ,
                DEMO_ISSUER=self.issuer,
                DEMO_CLIENT_ID=f"site-{room}",
                DEMO_CLIENT_SECRET=CLIENT_SECRET,
                DEMO_SITE_SECRET=f"site-session-secret-{room}",
                DEMO_SITE_URL=url,
            )
            log = (self.workdir / f"site-{room}.log").open("wb")
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "oidc_adapter.demo_site", str(port)],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            _wait_until_up(f"{url}/logout", self.procs[-1])
            self.sites[room] = url
        return self.sites[room]

    def admit(self, room: str, count: int) -> dict[str, Any]:
        r = requests.post(
            f"{self.issuer}/admin/rooms/{room}/admit",
            json={"count": count},
            headers=self.admin,
            timeout=10,
        )
        assert r.status_code == 200, r.text
        return r.json()

    def set_mode(self, room: str, action: str) -> None:
        r = requests.post(
            f"{self.issuer}/admin/rooms/{room}/{action}", headers=self.admin, timeout=10
        )
        assert r.status_code == 200, r.text

    def reset(self, room: str) -> None:
        r = requests.post(
            f"{self.issuer}/admin/rooms/{room}/reset",
            json={"confirm": room},
            headers=self.admin,
            timeout=10,
        )
        assert r.status_code == 200, r.text

    def take(self, room: str, count: int) -> list[str]:
        """Tickets for people ahead of the browser (kept alive with `beat`)."""
        out = []
        for _ in range(count):
            r = requests.post(f"{self.issuer}/api/rooms/{room}/tickets", timeout=10)
            assert r.status_code == 201, r.text
            out.append(r.json()["ticket"])
        return out

    def beat(self, room: str, tickets: list[str]) -> None:
        for ticket in tickets:
            requests.get(f"{self.issuer}/api/rooms/{room}/tickets/{ticket}", timeout=10)

    def authorize_url(self, room: str, **params: str) -> str:
        """An authorization request of the room's site, as its RP would send it."""
        query = {
            "client_id": f"site-{room}",
            "redirect_uri": f"{self.site(room)}/callback",
            "response_type": "code",
            "scope": "openid",
            "state": "s-" + str(time.monotonic_ns()),
            **params,
        }
        return f"{self.issuer}/authorize?" + requests.compat.urlencode(query)


def _wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up")
        time.sleep(0.05)


def _toml(value: Any) -> str:
    return json.dumps(value)  # JSON strings, numbers and arrays are valid TOML


@pytest.fixture(scope="module")
def stack(redis_server, tmp_path_factory) -> Iterator[Stack]:
    exe = shutil.which("oidc-adapter")
    require(exe is not None, "the oidc-adapter console script is not installed")
    workdir = tmp_path_factory.mktemp("browser-stack")
    KeyStore(workdir / "keys").ensure()
    (workdir / "logo.svg").write_text(LOGO_SVG)
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    site_ports = {room: free_port() for room in ROOMS}
    stack = Stack(issuer=issuer, workdir=workdir, site_ports=site_ports)
    lines = [
        f"issuer = {_toml(issuer)}",
        f"redis_url = {_toml(redis_server.url)}",
        f"admin_token = {_toml(ADMIN_TOKEN)}",
        f"data_dir = {_toml(str(workdir / 'var'))}",
        f"keys_dir = {_toml(str(workdir / 'keys'))}",
    ]
    for room, extra in ROOMS.items():
        lines.append(f"[rooms.{room}]")
        lines += [f"{k} = {_toml(v)}" for k, v in {**BASE_ROOM, **extra}.items()]
    for room in ROOMS:
        lines.append(f'[clients."site-{room}"]')
        lines.append(f"secret = {_toml(CLIENT_SECRET)}")
        lines.append(f"redirect_uris = {_toml([f'http://127.0.0.1:{site_ports[room]}/callback'])}")
        lines.append(f"room = {_toml(room)}")
    config = workdir / "adapter.toml"
    config.write_text("\n".join(lines) + "\n")
    server = subprocess.Popen(
        [exe, "serve", "--config", str(config), "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        stdout=(workdir / "adapter.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    stack.procs.append(server)
    try:
        _wait_until_up(f"{issuer}/readyz", server)
        yield stack
    finally:
        for proc in reversed(stack.procs):
            proc.terminate()
        for proc in stack.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    require(sync_playwright is not None, "playwright (Python) is not installed")
    require(os.access(CHROMIUM, os.X_OK), f"Chromium is not installed at {CHROMIUM}")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()
