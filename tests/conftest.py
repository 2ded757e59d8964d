from __future__ import annotations

import pytest

from oidc_adapter.app import create_app
from oidc_adapter.config import parse_config

from .helpers import ManualClock, RedisServer
from .redis_topologies import RedisClusterSet

ADMIN_TOKEN = "test-admin-token-0123456789"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


#: Test modules that also run on a Redis Cluster: the queue engine's.
CLUSTER_MODULE_PREFIX = "test_queue_"
#: Tests that stop, restart or share a single server's URL with child processes
#: stay on the single server.
SINGLE_SERVER_FIXTURES = {"redis_server", "persistent_redis"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each queue test on one server and on a three-master cluster, without
    touching the test modules: every one of them reaches Redis through
    `redis_client` / `redis_url`, which follow `redis_topology`."""
    module = metafunc.module.__name__.rpartition(".")[2]
    fixtures = set(metafunc.fixturenames)
    if (
        module.startswith(CLUSTER_MODULE_PREFIX)
        and "redis_topology" in fixtures
        and not fixtures & SINGLE_SERVER_FIXTURES
    ):
        metafunc.parametrize("redis_topology", ["single", "cluster"], indirect=True)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory):
    cluster = RedisClusterSet(tmp_path_factory.mktemp("redis-cluster"))
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture
def redis_topology(request) -> str:
    return getattr(request, "param", "single")


@pytest.fixture
def redis_url(request, redis_topology) -> str:
    """The URL the app under test gets: the single server's or the cluster's."""
    name = "redis_cluster" if redis_topology == "cluster" else "redis_server"
    return request.getfixturevalue(name).url


@pytest.fixture
def redis_client(request, redis_topology):
    """A client on an emptied Redis of the test's topology."""
    if redis_topology == "cluster":
        cluster = request.getfixturevalue("redis_cluster")
        cluster.flush()
        client = cluster.client()
    else:
        client = request.getfixturevalue("redis_server").client()
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
def make_app(redis_url, redis_client, clock):
    """Build an app on the throwaway Redis with the manual clock."""

    def factory(rooms: dict | None = None, clients: dict | None = None, **extra):
        cfg = make_config(redis_url, rooms, clients, **extra)
        app = create_app(cfg, clock=clock)
        app.testing = True
        return app

    return factory


@pytest.fixture
def admin_headers():
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
