"""`oidc-adapter demo`: the whole story on one machine with nothing else installed.

IdP (gunicorn) + embedded Redis + a dev signing key + a protected site on the
next port + a few simulated visitors already in line, with a slow admission
rate, so a newcomer sees the waiting page, watches the line move, and ends
on the protected page.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
from pathlib import Path

import requests

from .config import parse_config
from .room.states import WAITING

ROOM = "demo"
CLIENT_ID = "demo-site"
SIMULATED_VISITORS = 6


def _site_url(port: int) -> str:
    return f"http://localhost:{port + 1}"


def _config(port: int, data_dir: Path, client_secret: str) -> dict:
    site = _site_url(port)
    return {
        "issuer": f"http://localhost:{port}",
        "data_dir": str(data_dir),
        "keys_dir": str(data_dir / "keys"),
        "admin_token": secrets.token_urlsafe(24),
        "rooms": {
            ROOM: {
                "admit_per_minute": 12,
                "max_active": 0,
                "session_seconds": 300,
                "waiting_grace_seconds": 60,
                "claim_seconds": 60,
                "mode": "queue_all",
                "title": "Demo sale: you are in line",
                "message": "This is the OIDC Waiting Room demo. Admission is slow on purpose.",
            }
        },
        "clients": {
            CLIENT_ID: {
                "secret": client_secret,
                "redirect_uris": [f"{site}/callback"],
                "room": ROOM,
                "initiate_login_uri": f"{site}/login",
            }
        },
    }


def _simulate_visitors(base: str, stop: threading.Event) -> None:
    """Keep a few visitors waiting ahead of the newcomer, heartbeating like the page does."""
    tickets: list[str] = []
    while not stop.is_set():
        try:
            alive = []
            for ticket in tickets:
                r = requests.get(f"{base}/api/rooms/{ROOM}/tickets/{ticket}", timeout=5)
                if r.status_code == 200 and r.json().get("state") == WAITING:
                    alive.append(ticket)
            tickets = alive
            while len(tickets) < SIMULATED_VISITORS:
                r = requests.post(f"{base}/api/rooms/{ROOM}/tickets", timeout=5)
                tickets.append(r.json()["ticket"])
        except (requests.RequestException, ValueError, KeyError):
            pass
        stop.wait(10)


def run_demo(port: int, data_dir: str) -> None:
    from .gunicorn_app import run
    from .keys import store_for

    data = Path(data_dir).resolve()
    client_secret = secrets.token_urlsafe(24)
    cfg = parse_config(_config(port, data, client_secret), env={})
    store_for(cfg).ensure()
    env = dict(
        os.environ,
        DEMO_ISSUER=cfg.issuer,
        DEMO_CLIENT_ID=CLIENT_ID,
        DEMO_CLIENT_SECRET=client_secret,
        DEMO_SITE_SECRET=secrets.token_urlsafe(24),
        DEMO_SITE_URL=_site_url(port),
    )
    site = subprocess.Popen(  # noqa: S603 (our own module, fixed argv)
        [sys.executable, "-m", "oidc_adapter.demo_site", str(port + 1)], env=env
    )
    stop = threading.Event()
    visitors = threading.Thread(target=_simulate_visitors, args=(cfg.issuer, stop), daemon=True)
    banner = (
        f"\n  OIDC Waiting Room demo\n"
        f"  Open the protected site:  {_site_url(port)}/\n"
        f"  Room state (JSON):        {cfg.issuer}/api/rooms/{ROOM}\n"
        f"  Operator dashboard:       {cfg.issuer}/admin/  (sign in with the admin token)\n"
        f"  Admin token:              {cfg.admin_token}\n"
        f"  (admission: 12 per minute, {SIMULATED_VISITORS} simulated visitors ahead of you)\n"
    )
    threading.Timer(1.5, lambda: (print(banner, flush=True), visitors.start())).start()
    try:
        run(cfg, f"127.0.0.1:{port}", workers=1, threads=8)
    finally:
        stop.set()
        site.terminate()
        site.wait(timeout=10)
