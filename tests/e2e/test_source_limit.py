"""Per-source limits against a real server (gunicorn, two workers): clients on
several loopback addresses, each its own source, none able to pose as another."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

from tests.oidc_fixtures import default_clients

LIMIT = 3


def _take(url: str, source: str, headers: dict[str, str] | None = None) -> tuple[int, dict, dict]:
    """POST a take from `source` (the client socket bound to that loopback address)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=10, source_address=(source, 0)
    )
    try:
        conn.request(
            "POST",
            "/api/rooms/shop/tickets",
            body="{}",
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        reply = conn.getresponse()
        return reply.status, dict(reply.getheaders()), json.loads(reply.read())
    finally:
        conn.close()


def test_each_loopback_address_has_its_own_bucket(e2e):
    rooms = {"shop": {"admit_per_minute": 60, "tickets_per_ip_per_minute": LIMIT}}
    provider = e2e.provider(rooms, default_clients())
    url = provider.url.replace("localhost", "127.0.0.1")
    first = [_take(url, "127.0.0.2")[0] for _ in range(LIMIT)]
    assert first == [201] * LIMIT
    status, headers, body = _take(url, "127.0.0.2")
    assert status == 429 and body["error"] == "too_many_tickets"
    assert 1 <= int(headers["Retry-After"]) <= 60 // LIMIT
    # A made-up X-Forwarded-For from an untrusted peer changes nothing.
    spoofed = _take(url, "127.0.0.2", {"X-Forwarded-For": "198.51.100.1"})
    assert spoofed[0] == 429
    # Other addresses are other sources.
    assert [_take(url, "127.0.0.3")[0] for _ in range(LIMIT)] == [201] * LIMIT
    assert _take(url, "127.0.0.4")[0] == 201
    room = provider.admin("GET", "/rooms/shop")
    assert room["last_ticket"] == 2 * LIMIT + 1
