"""The default without REDIS_URL: a real embedded Redis, persisted under data_dir."""

from oidc_adapter.config import parse_config
from oidc_adapter.redis_connection import EmbeddedRedis, connect
from oidc_adapter.room.engine import RoomEngine


def test_embedded_redis_keeps_the_queue_across_a_restart(tmp_path):
    cfg = parse_config({"rooms": {"shop": {"admit_per_minute": 0}}}, env={})
    server = EmbeddedRedis(tmp_path / "redis")
    engine = RoomEngine(connect(server.url), cfg.rooms)
    engine.sync_settings()
    taken = [engine.take("shop") for _ in range(3)]
    assert [t.state for t in taken] == ["waiting"] * 3
    server.close()

    server = EmbeddedRedis(tmp_path / "redis")
    try:
        engine = RoomEngine(connect(server.url), cfg.rooms)
        again = [engine.status("shop", t.ticket) for t in taken]
        assert [t.number for t in again] == [1, 2, 3]
        assert [t.position for t in again] == [1, 2, 3]
    finally:
        server.close()


def test_a_redis_without_append_only_persistence_is_reported(
    redis_server, redis_client, tmp_path, caplog
):
    from oidc_adapter.app import create_app

    from .conftest import make_config
    from .helpers import RedisServer

    durable = RedisServer(tmp_path / "durable", persistent=True)
    durable.start()
    try:
        create_app(make_config(durable.url))
        assert "persistence is off" not in caplog.text
    finally:
        durable.stop()
    create_app(make_config(redis_server.url))
    assert "append-only persistence is off" in caplog.text
