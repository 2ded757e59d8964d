"""Real nginx `auth_request` against the adapter's /auth/verify, as an operator runs it."""

from __future__ import annotations

import base64

import pytest
import requests

from tests.e2e.nginx import PAGE, Adapter, Nginx, nginx_binary, started_servers
from tests.helpers import require

pytestmark = pytest.mark.e2e

ROOM = "shop"
CLIENT_ID = "shop-site"
CLIENT_SECRET = "shop-site-secret-0123456789"


@pytest.fixture
def servers(tmp_path, redis_server, redis_client):
    require(nginx_binary() is not None, "nginx is not installed")
    rooms = {ROOM: {"admit_per_minute": 6000, "max_active": 0, "session_seconds": 600}}
    clients = {
        CLIENT_ID: {
            "secret": CLIENT_SECRET,
            "redirect_uris": ["http://127.0.0.1/cb"],
            "room": ROOM,
        }
    }
    with started_servers() as started:
        adapter = Adapter(tmp_path / "adapter", redis_server.url, rooms, clients).start()
        started.append(adapter)
        nginx = Nginx(tmp_path / "nginx", adapter.port, ROOM).start()
        started.append(nginx)
        yield adapter, nginx


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_nginx_lets_in_only_admitted_sessions(servers):
    adapter, nginx = servers
    refused = requests.get(f"{nginx.url}/", timeout=10)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")  # passed on by nginx
    assert requests.get(f"{nginx.url}/", headers=bearer("a.b.c"), timeout=10).status_code == 401

    taken = requests.post(f"{adapter.url}/api/rooms/{ROOM}/tickets", timeout=10)
    assert taken.status_code == 201 and taken.json()["state"] == "served"
    ticket, secret = taken.json()["ticket"], taken.json()["ticket_secret"]
    token_url = f"{adapter.url}/api/rooms/{ROOM}/tickets/{ticket}/token"
    assert requests.post(token_url, timeout=10).status_code == 401  # the id alone is not enough
    issued = requests.post(token_url, headers={"Authorization": f"Ticket {secret}"}, timeout=10)
    assert issued.status_code == 200, issued.text
    token = issued.json()["access_token"]

    admitted = requests.get(f"{nginx.url}/", headers=bearer(token), timeout=10)
    assert admitted.status_code == 200
    assert admitted.content == PAGE
    assert admitted.headers["X-Auth-Session"] == ticket
    assert admitted.headers["X-Auth-Subject"]

    credentials = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    ended = requests.post(
        f"{adapter.url}/api/sessions/end",
        data={"token": token},
        headers={"Authorization": f"Basic {credentials}"},
        timeout=10,
    )
    assert ended.status_code == 200 and ended.json()["ended"] is True
    after = requests.get(f"{nginx.url}/", headers=bearer(token), timeout=10)
    assert after.status_code == 401
    assert requests.get(f"{nginx.url}/open/", timeout=10).content == PAGE
