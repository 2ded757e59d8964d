"""Sentinel and Cluster URLs, rooms spread over a real cluster's shards, and WAIT.

The failovers themselves are end-to-end tests (tests/e2e/test_redis_ha.py);
the engine's own test modules also run on a cluster (see conftest.py).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from oidc_adapter.cli import main
from oidc_adapter.config import ConfigError, parse_config
from oidc_adapter.redis_connection import connect, parse_ha_url
from oidc_adapter.room.durability import NotDurable
from oidc_adapter.room.engine import RoomEngine
from oidc_adapter.room.keyspace import room_key

from .conftest import make_config
from .helpers import require_functions

ROOM = {"mode": "passthrough"}


def test_sentinel_urls_name_every_sentinel_the_service_and_the_db():
    parsed = parse_ha_url(
        "redis+sentinel://:s%40cret@h1:26379,h2:26380/main/2", "redis+sentinel://"
    )
    assert parsed.nodes == [("h1", 26379), ("h2", 26380)]
    assert (parsed.password, parsed.path) == ("s@cret", ["main", "2"])


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://h1:26379",  # no service name
        "redis+sentinel://h1:26379/main/db0",  # db is a number
        "redis+sentinel://h1/main",  # no port
        "redis+cluster://h1:7000/0",  # a cluster has no db
    ],
)
def test_malformed_ha_urls_are_refused_with_the_expected_shape(url):
    with pytest.raises(ValueError, match="host:port|service_name|no path"):
        connect(url)
    with pytest.raises(ConfigError, match="redis_url: must be .*redis\\+sentinel://host:port"):
        parse_config({"redis_url": url, "rooms": {"shop": {}}}, env={})


def test_the_config_takes_sentinel_and_cluster_urls_from_the_file_and_the_environment():
    sentinel = "redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/main/0"
    cluster = "redis+cluster://10.0.0.1:7000,10.0.0.2:7000"
    assert (
        parse_config({"redis_url": sentinel, "rooms": {"shop": {}}}, env={}).redis_url == sentinel
    )
    from_env = parse_config({"rooms": {"shop": {}}}, env={"REDIS_URL": cluster})
    assert from_env.redis_url == cluster


def rooms_on_distinct_masters(cluster, count: int) -> dict[str, object]:
    """Room names whose slots belong to `count` different masters, by CLUSTER KEYSLOT."""
    found: dict[object, str] = {}
    for i in range(1000):
        name = f"room{i}"
        found.setdefault(cluster.master_of(room_key(name, "state")).port, name)
        if len(found) == count:
            return {name: port for port, name in found.items()}
    raise AssertionError("no room names spread over every master")


def test_rooms_spread_over_the_shards_and_each_works_on_its_own(redis_cluster):
    redis_cluster.flush()
    redis_client = redis_cluster.client()
    masters = redis_cluster.masters()
    assert len(masters) == 3
    rooms = rooms_on_distinct_masters(redis_cluster, 3)
    cfg = make_config(redis_cluster.url, rooms={name: ROOM for name in rooms})
    engine = RoomEngine(redis_client, cfg.rooms)
    engine.sync_settings()  # one pipeline across the three shards
    for name, port in rooms.items():
        ticket = engine.take(name)
        assert engine.claim(name, ticket.ticket).state == "admitted"
        master = next(m for m in masters if m.port == port)
        others = [m for m in masters if m.port != port]
        pattern = f"wr:{{{name}}}:*"  # KEYS lists one node's own keys, no redirects
        state, taken_at = room_key(name, "state"), room_key(name, "taken_at")
        assert set(master.client().keys(pattern)) >= {state, taken_at}
        assert all(not m.client().keys(pattern) for m in others)
    # Each call went straight to its room's master: the client never asked a
    # server where an FCALL's keys are (COMMAND GETKEYS, a round trip per call).
    for master in masters:
        calls = master.client().info("commandstats")
        assert "cmdstat_command|getkeys" not in calls
        assert calls["cmdstat_fcall"]["calls"] >= 2


def test_with_wait_and_no_replica_a_take_is_refused_not_promised(redis_client, redis_url):
    """WAIT 1 on a server without replicas: the ticket is not known to be safe, so 503."""
    require_functions(redis_client)
    cfg = make_config(redis_url, rooms={"shop": ROOM})
    engine = RoomEngine(redis_client, cfg.rooms, wait_replicas=1)
    engine.sync_settings()
    redis_client.function_flush()  # the durable path reloads code the server forgot
    with pytest.raises(NotDurable, match="0 of 1 replicas"):
        engine.take("shop")
    assert engine.state("shop").seq == 1  # the write happened; only the promise is refused


def test_with_wait_the_api_answers_503_with_retry_after(make_app):
    client = make_app(rooms={"shop": ROOM}, redis_wait_replicas=1).test_client()
    answer = client.post("/api/rooms/shop/tickets", json={})
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert answer.json["error"] == "temporarily_unavailable"


def test_operator_commands_work_on_a_cluster(redis_cluster, tmp_path, monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    redis_cluster.flush()
    config = tmp_path / "adapter.toml"
    config.write_text(f'redis_url = "{redis_cluster.url}"\n[rooms.shop]\nmode = "paused"\n')
    runner = CliRunner()
    admitted = runner.invoke(main, ["room", "admit", "shop", "2", "--config", str(config)])
    assert admitted.exit_code == 0, admitted.output
    shown = runner.invoke(main, ["room", "show", "shop", "--config", str(config)])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["mode"] == "paused"
