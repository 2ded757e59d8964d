from __future__ import annotations

import pytest

from oidc_adapter.app import create_app
from oidc_adapter.config import parse_config

from .helpers import ManualClock, RedisServer

ADMIN_TOKEN = "test-admin-token-0123456789"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server):
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def clock():
    return ManualClock()


def make_config(redis_url: str, rooms: dict | None = None, clients: dict | None = None, **extra):
    data = {
        "issuer": "http://localhost:8000",
        "redis_url": redis_url,
        "admin_token": ADMIN_TOKEN,
        "rooms": rooms or {"shop": {"admit_per_minute": 60, "max_active": 0}},
        "clients": clients or {},
        **extra,
    }
    return parse_config(data, env={})


@pytest.fixture
def make_app(redis_server, redis_client, clock):
    """Build an app on the throwaway Redis with the manual clock."""

    def factory(rooms: dict | None = None, clients: dict | None = None, **extra):
        cfg = make_config(redis_server.url, rooms, clients, **extra)
        app = create_app(cfg, clock=clock)
        app.testing = True
        return app

    return factory


@pytest.fixture
def admin_headers():
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
