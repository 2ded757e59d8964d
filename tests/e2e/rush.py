"""A rush of simulated users on the JSON API, and the bookkeeping a failover test needs.

Each user thread takes a ticket (`POST /api/rooms/<room>/tickets`) and claims
it (`POST .../tickets/<id>/token` with its ticket_secret), over and over,
until told to stop. Every answer the app acknowledged (201 for a take, 200
for a claim) is recorded with when it was sent and answered, so the test can ask the
store afterwards whether each one survived the failover. Anything other than
a success, a 503 with Retry-After, or a clean refusal is a failure.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import requests

REQUEST_TIMEOUT = 10.0


@dataclass
class Acknowledged:
    """What the app promised: tickets it handed out, sessions it started."""

    #: ticket -> (when its take was sent, when it was acknowledged): only a request
    #: sent after a moment surely ran after it.
    takes: dict[str, tuple[float, float]] = field(default_factory=dict)
    claims: set[str] = field(default_factory=set)
    statuses: Counter = field(default_factory=Counter)
    unavailable: list[float] = field(default_factory=list)  # when each 503's request was sent
    bad: list[str] = field(default_factory=list)  # 5xx other than 503 + Retry-After


class Rush:
    """`users` threads hammering one room until `stop()`; loopback only."""

    def __init__(self, base_url: str, room: str, users: int = 8):
        assert base_url.startswith(("http://127.0.0.1:", "http://localhost:"))
        self.base = f"{base_url}/api/rooms/{room}/tickets"
        self.seen = Acknowledged()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._user, daemon=True) for _ in range(users)]

    def __enter__(self) -> Rush:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT * 2)

    def takes_after(self, moment: float) -> int:
        """Acknowledged takes whose request was sent after `moment`."""
        with self._lock:
            return sum(1 for sent, _ in self.seen.takes.values() if sent > moment)

    def first_take_after(self, moment: float) -> float:
        """When the first take sent after `moment` was acknowledged."""
        with self._lock:
            return min(done for sent, done in self.seen.takes.values() if sent > moment)

    def unavailable_after(self, moment: float) -> int:
        with self._lock:
            return sum(1 for at in self.seen.unavailable if at > moment)

    def _record(self, what: str, response: requests.Response | None, sent: float) -> bool:
        """Count the answer; whether it was a success."""
        with self._lock:
            if response is None:
                self.seen.bad.append(f"{what}: no answer from the app")
                return False
            status = response.status_code
            self.seen.statuses[status] += 1
            if status == 503:
                self.seen.unavailable.append(sent)
            if status >= 500 and (status != 503 or "Retry-After" not in response.headers):
                self.seen.bad.append(f"{what}: {status} {response.text[:200]}")
            return status in (200, 201)

    def _user(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            sent = time.monotonic()
            taken = _post(session, self.base, {})
            if not self._record("take", taken, sent) or taken.status_code != 201:  # type: ignore[union-attr]
                continue
            body = taken.json()  # type: ignore[union-attr]
            ticket, secret = body["ticket"], body["ticket_secret"]
            with self._lock:
                self.seen.takes[ticket] = (sent, time.monotonic())
            sent = time.monotonic()
            claimed = _post(session, f"{self.base}/{ticket}/token", {"ticket_secret": secret})
            if self._record("claim", claimed, sent):
                with self._lock:
                    self.seen.claims.add(ticket)


def _post(session: requests.Session, url: str, body: dict) -> requests.Response | None:
    try:
        return session.post(url, json=body, timeout=REQUEST_TIMEOUT)
    except requests.RequestException:
        return None


def lost_after_failover(base_url: str, room: str, seen: Acknowledged) -> tuple[int, int]:
    """(takes, claims) the app acknowledged that the store no longer knows: a lost
    take answers 404, a lost claim shows a ticket that is not admitted."""
    lost_takes = lost_claims = 0
    session = requests.Session()
    for ticket in seen.takes:
        answer = session.get(f"{base_url}/api/rooms/{room}/tickets/{ticket}", timeout=10)
        assert answer.status_code in (200, 404, 410), answer.text
        if answer.status_code == 404:
            lost_takes += 1
        elif ticket in seen.claims and answer.json().get("state") != "admitted":
            lost_claims += 1
    return lost_takes, lost_claims
