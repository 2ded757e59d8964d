"""Real nginx `auth_request` against the adapter's /auth/verify, as an operator runs it."""

from __future__ import annotations

import pytest
import requests

from tests.e2e.nginx import (
    PAGE,
    SHOP_ROOM,
    Nginx,
    end_session,
    nginx_binary,
    shop_adapter,
    started_servers,
)
from tests.helpers import require

pytestmark = pytest.mark.e2e

ROOM = SHOP_ROOM


@pytest.fixture
def servers(tmp_path, redis_server, redis_client):
    require(nginx_binary() is not None, "nginx is not installed")
    with started_servers() as started:
        adapter = shop_adapter(tmp_path / "adapter", redis_server.url).start()
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

    end_session(adapter.url, token)
    after = requests.get(f"{nginx.url}/", headers=bearer(token), timeout=10)
    assert after.status_code == 401
    assert requests.get(f"{nginx.url}/open/", timeout=10).content == PAGE
