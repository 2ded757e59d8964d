"""The world of the fairness simulation: a real Redis, two app instances on one
manual clock, and users who behave like direct-API clients.

Users take a ticket, poll its status as often as the answer says
(`heartbeat_seconds`), honour `Retry-After` on a 503, and ask for their token
as soon as they are served; some give up (stop polling) on the way, some end
their session early. Everything goes through the HTTP API (Flask's test
client, alternating between the two apps), so what is measured is what a
client sees. Time is the manual clock: a simulated hour takes seconds, and a
run is deterministic for a seed.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from oidc_adapter.app import create_app
from oidc_adapter.config import parse_config
from oidc_adapter.keys import store_for
from tests.helpers import ManualClock, RedisServer

ROOM = "sim"
ADMIN = {"Authorization": "Bearer fairness-admin-token-0123456789"}
TICKETS = f"/api/rooms/{ROOM}/tickets"


@dataclass
class User:
    arrive_ms: int
    #: Stops polling (gives up) at this time; None: follows the hints to the end.
    quits_ms: int | None = None
    #: Ends the admitted session this long after logging in; None: keeps it.
    session_s: float | None = None
    ticket: str = ""
    secret: str = ""
    #: (time, estimate or None) of every status answer while waiting; the
    #: first is the one shown when the ticket was taken.
    estimates: list[tuple[int, dict[str, Any] | None]] = field(default_factory=list)
    served_s: int | None = None
    outcome: str | None = None

    @property
    def obedient(self) -> bool:
        return self.quits_ms is None


class World:
    """A real redis-server (append-only file on) and two apps sharing it."""

    def __init__(self, workdir: Path, settings: dict[str, Any]):
        self.redis = RedisServer(workdir / "redis", persistent=True)
        self.redis.start()
        # Now, to the minute: token times stay plausible, and whole seconds and
        # rate buckets fall the same way in every run.
        self.clock = ManualClock(int(time.time()) // 60 * 60_000)
        self.start_ms = self.clock.ms
        self.settings = settings
        self.config = parse_config(
            {
                "issuer": "http://localhost:8000",
                "redis_url": self.redis.url,
                "admin_token": ADMIN["Authorization"].split()[1],
                "data_dir": str(workdir / "var"),
                "keys_dir": str(workdir / "keys"),
                "rooms": {ROOM: settings},
            },
            env={},
        )
        store_for(self.config).ensure()
        self.apps = [self._app(), self._app()]
        self._turn = itertools.cycle(range(len(self.apps)))
        self._events: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self.users: list[User] = []
        #: (time, served_total, waiting) every few seconds, from the admin API.
        self.samples: list[tuple[int, int, int]] = []

    def _app(self) -> FlaskClient:
        return create_app(self.config, clock=self.clock).test_client()

    def restart_app(self, i: int) -> None:
        """A server restart (or a worker killed with -9): a fresh app, no memory."""
        self.apps[i] = self._app()

    def call(self, method: str, path: str, **kwargs: Any) -> TestResponse:
        return self.apps[next(self._turn)].open(path, method=method, **kwargs)

    def seconds(self) -> float:
        """Simulated seconds since the start."""
        return (self.clock.ms - self.start_ms) / 1000

    def at(self, seconds: float, action: Callable[[], None]) -> None:
        """Run `action` at `seconds` after the start."""
        heapq.heappush(self._events, (self.start_ms + int(seconds * 1000), next(self._seq), action))

    def after(self, seconds: float, action: Callable[[], None]) -> None:
        self.at(self.seconds() + seconds, action)

    def run(self, until_seconds: float) -> None:
        end = self.start_ms + int(until_seconds * 1000)
        while self._events and self._events[0][0] <= end:
            due, _, action = heapq.heappop(self._events)
            self.clock.ms = max(self.clock.ms, due)
            action()
        self.clock.ms = max(self.clock.ms, end)

    def admin(self, method: str, path: str = "", **kwargs: Any) -> dict[str, Any]:
        response = self.call(method, f"/admin/rooms/{ROOM}{path}", headers=ADMIN, **kwargs)
        return response.json if response.status_code == 200 else {}

    def sample(self, every: float) -> None:
        room = self.admin("GET")
        if room:
            self.samples.append((self.clock.ms, room["served_total"], room["waiting"]))
        self.after(every, partial(self.sample, every))

    def stop(self) -> None:
        self.redis.stop()


def _retry_after(response: TestResponse) -> float:
    return float(response.headers.get("Retry-After", 5))


def arrive(world: World, user: User) -> None:
    response = world.call("POST", TICKETS)
    if response.status_code == 503:
        world.after(_retry_after(response), partial(arrive, world, user))
        return
    body = response.json
    user.ticket, user.secret = body["ticket"], body["ticket_secret"]
    _handle(world, user, body)


def _handle(world: World, user: User, body: dict[str, Any]) -> None:
    """Act on a ticket's status, as a client that follows the hints does."""
    state = body["state"]
    if state == "waiting":
        user.estimates.append((world.clock.ms, body.get("estimated_wait")))
        world.after(body["heartbeat_seconds"], partial(_poll, world, user))
    elif state == "served":
        user.served_s = body["claim_by"] - world.settings["claim_seconds"]
        _claim(world, user)
    else:
        user.outcome = state


def _poll(world: World, user: User) -> None:
    if user.quits_ms is not None and world.clock.ms >= user.quits_ms:
        return  # gone: the tab is closed
    response = world.call("GET", f"{TICKETS}/{user.ticket}")
    if response.status_code == 503:
        world.after(_retry_after(response), partial(_poll, world, user))
    elif response.status_code == 410:
        user.outcome = response.json["state"]
    else:
        _handle(world, user, response.json)


def _claim(world: World, user: User) -> None:
    auth = {"Authorization": f"Ticket {user.secret}"}
    response = world.call("POST", f"{TICKETS}/{user.ticket}/token", headers=auth)
    if response.status_code == 503:
        world.after(_retry_after(response), partial(_claim, world, user))
    elif response.status_code == 200:
        user.outcome = "admitted"
        if user.session_s is not None:
            world.after(user.session_s, partial(_leave, world, user))
    else:
        user.outcome = response.json.get("state", response.json["error"])


def _leave(world: World, user: User) -> None:
    """The user logs out early: the site ends the session and frees the slot."""
    auth = {"Authorization": f"Ticket {user.secret}"}
    response = world.call("DELETE", f"{TICKETS}/{user.ticket}", headers=auth)
    if response.status_code == 503:
        world.after(_retry_after(response), partial(_leave, world, user))


def settle(world: World) -> None:
    """After the run, read the end state of every ticket that gave up: served
    and never claimed ("expired") means a slot was held for nobody."""
    for user in world.users:
        if user.outcome is None and user.ticket and not user.obedient:
            response = world.call("GET", f"{TICKETS}/{user.ticket}")
            user.outcome = response.json.get("state")
