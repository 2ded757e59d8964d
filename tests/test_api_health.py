"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import re

import pytest

from oidc_adapter.keys import KeyStore

from .helpers import RedisServer


@pytest.fixture
def keys_dir(tmp_path):
    KeyStore(tmp_path / "keys").ensure()
    return str(tmp_path / "keys")


def test_healthz_is_ok(make_app):
    response = make_app().test_client().get("/healthz")
    assert (response.status_code, response.json) == (200, {"status": "ok"})


def test_readyz_needs_redis_and_a_signing_key(make_app, keys_dir, tmp_path):
    ready = make_app(keys_dir=keys_dir).test_client().get("/readyz")
    assert ready.status_code == 200
    assert ready.json == {"status": "ready", "checks": {"redis": True, "signing_key": True}}
    no_key = make_app(keys_dir=str(tmp_path / "empty")).test_client().get("/readyz")
    assert no_key.status_code == 503 and no_key.json["checks"]["signing_key"] is False


def test_readyz_is_503_while_redis_is_down(tmp_path, keys_dir, clock):
    from oidc_adapter.app import create_app

    from .conftest import make_config

    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        app = create_app(make_config(server.url, keys_dir=keys_dir), clock=clock)
        client = app.test_client()
        assert client.get("/readyz").status_code == 200
        server.stop()
        down = client.get("/readyz")
        assert down.status_code == 503
        assert down.json["checks"] == {"redis": False, "signing_key": True}
        assert down.headers["Retry-After"] and down.headers["Cache-Control"] == "no-store"
        server.start()
        assert client.get("/readyz").status_code == 200
    finally:
        server.stop()


def metric_values(text: str) -> dict[tuple[str, str], float]:
    values = {}
    for line in text.splitlines():
        match = re.fullmatch(r'(\w+)\{room="([^"]+)"\} (\S+)', line)
        if match:
            values[(match[1], match[2])] = float(match[3])
    return values


def test_metrics_report_each_rooms_gauges_and_counters(make_app, clock):
    rooms = {
        "shop": {"admit_per_minute": 60, "max_active": 3, "waiting_grace_seconds": 15},
        "quiet": {"admit_per_minute": 0},
    }
    app = make_app(rooms=rooms)
    engine = app.extensions["waiting_room"].engine
    tickets = [engine.take("shop") for _ in range(8)]
    engine.claim("shop", tickets[0].ticket)
    engine.finish("shop", tickets[1].ticket)  # frees a slot: #4 is served
    for _ in range(7):  # #8 goes silent and is abandoned; the others poll as asked (3 s)
        clock.advance(3)
        for t in tickets[4:7]:
            engine.status("shop", t.ticket)
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert "# TYPE waiting_room_waiting gauge" in text
    assert "# TYPE waiting_room_served_total counter" in text
    values = metric_values(text)
    expected = {
        "waiting_room_waiting": 3,
        "waiting_room_active": 3,
        "waiting_room_pending": 2,
        "waiting_room_served_total": 4,
        "waiting_room_admitted_total": 1,
        "waiting_room_abandoned_total": 1,
        "waiting_room_expired_total": 0,
        "waiting_room_seq_total": 8,
        "waiting_room_admit_per_minute": 60,
    }
    assert {name: values[(name, "shop")] for name in expected} == expected
    assert values[("waiting_room_waiting", "quiet")] == 0
    assert values[("waiting_room_admit_per_minute", "quiet")] == 0
