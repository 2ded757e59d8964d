"""/token costs at most two Redis round trips: redeeming the code (which also
reports a replay) and claiming the session. Counted on the app's real Redis
client, whose connections log every write to the server: one write is one
round trip, since each reply is read before the next write (a pipeline is
one write)."""

from __future__ import annotations

import shutil
import time

import pytest
import redis

from oidc_adapter.app import create_app

from . import oidc_fixtures as fx
from .conftest import make_config
from .oidc_fixtures import pkce_pair

MAX_ROUND_TRIPS = 2


def command_name(packed: bytes | list[bytes]) -> str:
    """The first command of a write (`*N\\r\\n$len\\r\\nNAME\\r\\n...`), for messages."""
    raw = b"".join(packed) if isinstance(packed, list) else packed
    return raw.split(b"\r\n")[2].decode().upper()


@pytest.fixture
def counted(redis_server, redis_client, clock, tmp_path, tmp_path_factory):
    """An OIDC app on a Redis client that logs its round trips, and the log."""
    trips: list[str] = []

    class CountingConnection(redis.Connection):
        def send_packed_command(self, command, check_health=True):
            trips.append(command_name(command))
            super().send_packed_command(command, check_health)

    client = redis.Redis(
        connection_pool=redis.ConnectionPool.from_url(
            redis_server.url, decode_responses=True, connection_class=CountingConnection
        )
    )
    keys_dir = tmp_path / "keys"
    shutil.copytree(fx.key_template(tmp_path_factory), keys_dir)
    config = make_config(
        redis_server.url,
        fx.default_rooms(),
        fx.default_clients(),
        keys_dir=str(keys_dir),
        issuer=fx.ISSUER,
    )
    clock.ms = int(time.time() * 1000)  # tokens are stamped with the wall clock
    app = create_app(config, redis_client=client, clock=clock)
    oidc = fx.Oidc(app=app, browser=app.test_client())
    oidc.login()  # loads every script once (EVALSHA, NOSCRIPT, SCRIPT LOAD)
    yield oidc, trips
    client.close()


def test_a_code_redemption_takes_at_most_two_round_trips(counted):
    oidc, trips = counted
    code, _ = oidc.code()
    trips.clear()
    response = oidc.token(code)
    assert response.status_code == 200, response.json
    assert 0 < len(trips) <= MAX_ROUND_TRIPS, trips
    # The session really was recorded: it counts against the room's cap now.
    assert oidc.room()["active"] == 1


def test_a_replayed_code_is_refused_and_revoked_in_two_round_trips(counted):
    oidc, trips = counted
    warm, _ = oidc.code()  # the first revocation loads its script, as after any Redis start
    oidc.token(warm)
    oidc.token(warm)
    code, _ = oidc.code()
    first = oidc.token(code)
    trips.clear()
    again = oidc.token(code)
    assert again.status_code == 400 and again.json["error"] == "invalid_grant"
    assert len(trips) <= MAX_ROUND_TRIPS, trips
    bearer = {"Authorization": f"Bearer {first.json['access_token']}"}
    assert oidc.browser.get("/userinfo", headers=bearer).status_code == 401


def test_a_failed_verifier_costs_two_round_trips_and_leaves_no_marker(counted):
    oidc, trips = counted
    _, challenge = pkce_pair()
    code, _ = oidc.code(code_challenge=challenge, code_challenge_method="S256")
    wrong, _ = pkce_pair()
    markers = set(oidc.redis.scan_iter("wr:code-redeemed:*"))
    trips.clear()
    response = oidc.token(code, code_verifier=wrong)
    assert response.json["error"] == "invalid_grant"
    assert len(trips) <= MAX_ROUND_TRIPS, trips
    assert set(oidc.redis.scan_iter("wr:code-redeemed:*")) == markers


def test_requests_refused_before_the_code_touch_no_redis(counted):
    oidc, trips = counted
    code, _ = oidc.code()
    trips.clear()
    assert oidc.token(code, secret="wrong-secret-0123456789").status_code == 401
    assert oidc.token(code, grant_type="password").status_code == 400
    assert trips == []
    assert oidc.token(code).status_code == 200
