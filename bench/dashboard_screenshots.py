"""The docs' dashboard screenshots: forty minutes of a sale, fast-forwarded.

    python -m bench.dashboard_screenshots [--out docs/images]

Run from the repository root; needs redis-server, Playwright (Python) and
Debian's Chromium. The app runs on a manual clock (the tests' clock) on a
throwaway redis-server, served on 127.0.0.1 by a thread. A simulated crowd
arrives in a rush, polls as the waiting page does, claims its turn (most of
the time), sometimes gives up or leaves early; halfway through the operator
raises the rate. Then Chromium signs in to /admin/ and takes the overview and
the room page.
"""

from __future__ import annotations

import argparse
import math
import random
import tempfile
import threading
from pathlib import Path

from werkzeug.serving import make_server

from oidc_adapter.app import create_app
from oidc_adapter.config import parse_config
from oidc_adapter.room.engine import RoomEngine
from oidc_adapter.room.states import DONE, SERVED, WAITING
from tests.browser.conftest import CHROMIUM
from tests.helpers import ManualClock, RedisServer, free_port

TOKEN = "screenshot-admin-token-0123456789"
ROOM = "sale"
BUCKETS = 240
#: The crowd polls every this many buckets (a minute: inside the two polls a
#: 120 s grace allows), each ticket in its own bucket of the cycle.
POLL_EVERY = 6
#: Ticket -> (the bucket its holder gives up in, or None; its poll offset).
Crowd = dict[str, tuple[int | None, int]]


def arrivals(bucket: int) -> int:
    """Hardly anyone before the sale opens (two minutes in), a rush, then a trickle."""
    if bucket < 12:
        return 1
    return int(40 * math.exp(-(bucket - 12) / 30)) + 2


def poll(engine: RoomEngine, crowd: Crowd, bucket: int, rng: random.Random) -> None:
    """Who polls this bucket learns their state; the served claim (most of
    them), and some of those leave early."""
    for ticket, (leaves, offset) in list(crowd.items()):
        if leaves is not None and bucket >= leaves:
            del crowd[ticket]  # stops polling: abandoned once the grace runs out
        elif (offset + bucket) % POLL_EVERY == 0:
            view = engine.status(ROOM, ticket)
            if view.state == WAITING:
                continue
            del crowd[ticket]
            if view.state == SERVED and rng.random() < 0.92:
                engine.claim(ROOM, ticket)
                if rng.random() < 0.3:
                    engine.finish(ROOM, ticket, DONE)


def simulate(engine: RoomEngine, clock: ManualClock) -> None:
    rng, crowd = random.Random(7), {}
    for bucket in range(BUCKETS):
        if bucket == BUCKETS // 2:
            engine.configure(ROOM, {"admit_per_minute": 150})
        for _ in range(arrivals(bucket)):
            leaves = bucket + rng.randint(3, 60) if rng.random() < 0.15 else None
            crowd[engine.take(ROOM).ticket] = (leaves, rng.randrange(POLL_EVERY))
        poll(engine, crowd, bucket, rng)
        clock.advance(10)


def shoot(issuer: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 320})
        page.goto(f"{issuer}/admin/")
        page.fill("#token", TOKEN)
        page.click("button[type=submit]")
        page.wait_for_selector(f'tr[data-room="{ROOM}"]')
        page.screenshot(path=str(out / "dashboard-overview.png"), full_page=True)
        page.set_viewport_size({"width": 1400, "height": 1000})
        page.goto(f"{issuer}/admin/ui/rooms/{ROOM}")
        page.wait_for_selector("#chart-waits[data-last]")
        page.screenshot(path=str(out / "dashboard-room.png"), full_page=True)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as workdir:
        server = RedisServer(Path(workdir) / "redis")
        server.start()
        port = free_port()
        try:
            rooms = {
                ROOM: {
                    "admit_per_minute": 90,
                    "max_active": 250,
                    "session_seconds": 300,
                    "claim_seconds": 120,
                    "waiting_grace_seconds": 120,
                    "title": "Summer sale",
                },
                "support": {"admit_per_minute": 30, "max_active": 0},
                "tickets": {"admit_per_minute": 0, "mode": "paused"},
            }
            config = parse_config(
                {
                    "issuer": f"http://127.0.0.1:{port}",
                    "redis_url": server.url,
                    "admin_token": TOKEN,
                    "keys_dir": str(Path(workdir) / "keys"),
                    "rooms": rooms,
                },
                env={},
            )
            clock = ManualClock()
            app = create_app(config, clock=clock)
            simulate(app.extensions["waiting_room"].engine, clock)
            http = make_server("127.0.0.1", port, app, threaded=True)
            threading.Thread(target=http.serve_forever, daemon=True).start()
            shoot(config.issuer, args.out)
            http.shutdown()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
