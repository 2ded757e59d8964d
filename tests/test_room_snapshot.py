"""The public room state may be reused for up to a second, never longer."""

from oidc_adapter.app import create_app
from oidc_adapter.room.snapshot import SnapshotCache

from .conftest import make_config


def test_a_snapshot_is_rebuilt_once_it_is_older_than_its_limit(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("oidc_adapter.room.snapshot.time.monotonic", lambda: now[0])
    cache = SnapshotCache(1.0)
    builds = iter([b"one", b"two"])
    assert cache.get("shop", lambda: next(builds)) == b"one"
    now[0] += 0.9
    assert cache.get("shop", lambda: next(builds)) == b"one"
    now[0] += 0.2
    assert cache.get("shop", lambda: next(builds)) == b"two"


def test_room_state_is_served_from_the_snapshot_within_a_second(
    redis_server, redis_client, monkeypatch
):
    now = [100.0]
    monkeypatch.setattr("oidc_adapter.room.snapshot.time.monotonic", lambda: now[0])
    app = create_app(make_config(redis_server.url, {"shop": {"admit_per_minute": 0}}))
    client = app.test_client()
    assert client.get("/api/rooms/shop").json["waiting"] == 0
    client.post("/api/rooms/shop/tickets")
    assert client.get("/api/rooms/shop").json["waiting"] == 0  # the same snapshot
    now[0] += 1.01
    fresh = client.get("/api/rooms/shop")
    assert fresh.json["waiting"] == 1
    assert fresh.headers["Cache-Control"] == "public, max-age=2"


def test_join_rules_reach_every_worker_within_a_second(redis_server, redis_client, monkeypatch):
    """An operator's change made elsewhere (another worker, the CLI) applies to
    newcomers here once this worker's copy is a second old, not before."""
    now = [100.0]
    monkeypatch.setattr("oidc_adapter.room.snapshot.time.monotonic", lambda: now[0])
    config = make_config(redis_server.url, {"shop": {"admit_per_minute": 0}})
    worker, elsewhere = create_app(config), create_app(config)

    def newcomer():  # a fresh client each time: a held ticket passes the door
        return worker.test_client().post("/api/rooms/shop/tickets")

    assert newcomer().status_code == 201
    changed = elsewhere.test_client().patch(
        "/admin/rooms/shop/settings",
        json={"join_cost": "pow", "pow_bits": 8},
        headers={"Authorization": f"Bearer {config.admin_token}"},
    )
    assert changed.status_code == 200
    assert newcomer().status_code == 201  # this worker's copy is not a second old
    now[0] += 1.01
    refused = newcomer()
    assert refused.status_code == 401 and refused.json["error"] == "pow_required"
