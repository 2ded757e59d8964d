"""Structured logs: a JSON line per request, a line per operator action naming
its token, and named admin tokens."""

from __future__ import annotations

import json
import logging
import re

import pytest

from oidc_adapter.app import create_app
from oidc_adapter.config import ConfigError, parse_config

from . import oidc_fixtures as fx
from .conftest import ADMIN_TOKEN

ALICE = "alice-admin-token-0123456789"
BOB = "bob-admin-token-0123456789ab"
ENV = {"ALICE_TOKEN": ALICE, "BOB_TOKEN": BOB}
HASH = re.compile(r"^[0-9a-f]{12}$")

make_oidc = fx.make_oidc  # a fixture


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def build(redis_url, redis_client, clock):
    def factory(**extra):
        data = {
            "redis_url": redis_url,
            "admin_token": ADMIN_TOKEN,
            "admin_tokens": {"alice": {"env": "ALICE_TOKEN"}, "bob": {"env": "BOB_TOKEN"}},
            "rooms": {"shop": {"admit_per_minute": 60}},
            **extra,
        }
        app = create_app(parse_config(data, env=ENV), clock=clock)
        app.testing = True
        return app

    return factory


def lines(caplog, logger: str) -> list[dict]:
    """Each record of `logger`, parsed: every one must be one JSON object."""
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == logger]


def test_one_json_line_per_request_with_the_ticket_hashed(build, caplog):
    client = build(log_format="json").test_client()
    caplog.set_level(logging.INFO, logger="oidc_adapter.access")
    ticket = client.post("/api/rooms/shop/tickets").json["ticket"]
    caplog.clear()
    client.get(f"/api/rooms/shop/tickets/{ticket}", headers={"X-Forwarded-For": "203.0.113.9"})
    client.get("/healthz")
    [poll, health] = lines(caplog, "oidc_adapter.access")
    assert poll["event"] == "request" and poll["time"].endswith("+00:00")
    assert {k: poll[k] for k in ("method", "route", "status", "room", "client")} == {
        "method": "GET",
        "route": "/api/rooms/<room>/tickets/<ticket>",
        "status": 200,
        "room": "shop",
        "client": "203.0.113.9",  # the test client's 127.0.0.1 is a trusted proxy
    }
    assert isinstance(poll["latency_ms"], float) and poll["latency_ms"] >= 0
    assert HASH.match(poll["ticket"]) and ticket not in caplog.text
    assert (health["route"], health["room"], health["ticket"]) == ("/healthz", None, None)
    # The same ticket gets the same hash: one visitor's lines can be followed.
    caplog.clear()
    client.get(f"/api/rooms/shop/tickets/{ticket}")
    assert lines(caplog, "oidc_adapter.access")[0]["ticket"] == poll["ticket"]


def test_an_untrusted_peer_cannot_choose_its_logged_address(build, caplog):
    client = build(log_format="json").test_client()
    caplog.set_level(logging.INFO, logger="oidc_adapter.access")
    client.get(
        "/healthz",
        headers={"X-Forwarded-For": "203.0.113.9"},
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    assert lines(caplog, "oidc_adapter.access")[0]["client"] == "198.51.100.7"


def test_authorize_lines_carry_the_clients_room_and_the_cookies_ticket(make_oidc, caplog):
    oidc = make_oidc(log_format="json")
    caplog.set_level(logging.INFO, logger="oidc_adapter.access")
    assert oidc.authorize().status_code == 302  # takes a ticket: its cookie comes back
    assert oidc.authorize().status_code == 302  # ...and is sent with the next login
    first, second = lines(caplog, "oidc_adapter.access")
    assert (first["route"], first["room"], first["ticket"]) == ("/authorize", "shop", None)
    assert second["room"] == "shop" and HASH.match(second["ticket"])


def test_text_format_writes_no_request_lines(build, caplog):
    client = build().test_client()
    caplog.set_level(logging.INFO, logger="oidc_adapter.access")
    client.get("/healthz")
    assert [r for r in caplog.records if r.name == "oidc_adapter.access"] == []


def test_operator_actions_are_logged_with_the_tokens_name(build, caplog):
    app = build(log_format="json")
    client = app.test_client()
    ticket = client.post("/api/rooms/shop/tickets").json["ticket"]
    caplog.set_level(logging.INFO, logger="oidc_adapter.operator")
    assert client.post("/admin/rooms/shop/pause", headers=bearer(ALICE)).status_code == 200
    assert client.get("/admin/rooms/shop", headers=bearer(BOB)).status_code == 200  # a read
    revoke = client.post("/admin/rooms/shop/revoke", json={"ticket": ticket}, headers=bearer(BOB))
    assert revoke.status_code == 200
    assert client.post("/admin/rooms/shop/resume", headers=bearer(ADMIN_TOKEN)).status_code == 200
    admit = client.post("/admin/rooms/shop/admit", json={"count": 0}, headers=bearer(ALICE))
    assert admit.status_code == 400
    assert client.post("/admin/rooms/shop/close", headers=bearer(ALICE[:-1])).status_code == 401
    found = lines(caplog, "oidc_adapter.operator")
    assert [(x["who"], x["action"], x["status"]) for x in found] == [
        ("alice", "pause", 200),
        ("bob", "revoke", 200),
        ("admin", "resume", 200),
        ("alice", "admit", 400),
        (None, "close", 401),
    ]
    assert all(x["event"] == "operator_action" and x["room"] == "shop" for x in found)
    assert HASH.match(found[1]["request"]["ticket"]) and ticket not in caplog.text
    assert all(token not in caplog.text for token in (ALICE, BOB, ADMIN_TOKEN))
    assert client.get("/api/rooms/shop").json["mode"] != "closed"


def test_operator_actions_are_text_lines_by_default(build, caplog):
    client = build().test_client()
    caplog.set_level(logging.INFO, logger="oidc_adapter.operator")
    client.post("/admin/rooms/shop/admit", json={"count": 2}, headers=bearer(BOB))
    [record] = [r for r in caplog.records if r.name == "oidc_adapter.operator"]
    stamp, _, message = record.getMessage().partition(" ")
    assert stamp.endswith("+00:00")
    assert message.startswith('operator_action who="bob" action="admit" status=200')
    assert '"count": 2' in message


def test_every_named_token_works_and_no_other(build):
    client = build().test_client()
    for token in (ADMIN_TOKEN, ALICE, BOB):
        assert client.get("/admin/rooms", headers=bearer(token)).status_code == 200
    for header in (f"Bearer {ALICE}x", f"Bearer {ALICE[:-1]}", f"Basic {ALICE}", "Bearer ", ""):
        refused = client.get("/admin/rooms", headers={"Authorization": header})
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == 'Bearer realm="admin"'


def test_named_tokens_alone_are_enough(redis_url, redis_client, clock):
    data = {"redis_url": redis_url, "admin_tokens": {"alice": {"env": "ALICE_TOKEN"}}}
    app = create_app(parse_config({**data, "rooms": {"shop": {}}}, env=ENV), clock=clock)
    assert app.test_client().get("/admin/rooms", headers=bearer(ALICE)).status_code == 200


@pytest.mark.parametrize(
    ("admin_tokens", "env", "problem"),
    [
        ({"alice": {"env": "NOPE"}}, {}, ("admin_tokens.alice.env", "NOPE is not set")),
        ({"alice": {"env": "SHORT"}}, {"SHORT": "x"}, ("admin_tokens.alice.env", "16")),
        ({"alice": {}}, {}, ("admin_tokens.alice.env", "environment variable")),
        ({"Alice": {"env": "ALICE_TOKEN"}}, ENV, ("admin_tokens.Alice", "a-z")),
        ({"admin": {"env": "ALICE_TOKEN"}}, ENV, ("admin_tokens", "name of admin_token")),
        (
            {"a": {"env": "ALICE_TOKEN"}, "b": {"env": "SAME"}},
            {**ENV, "SAME": ALICE},
            ("admin_tokens", "share one token"),
        ),
    ],
)
def test_bad_named_tokens_are_refused_with_their_field(admin_tokens, env, problem):
    data = {"admin_token": ADMIN_TOKEN, "admin_tokens": admin_tokens, "rooms": {"shop": {}}}
    with pytest.raises(ConfigError) as refused:
        parse_config(data, env=env)
    field, words = problem
    assert any(f == field and words in m for f, m in refused.value.problems), refused.value


def test_log_format_is_checked():
    with pytest.raises(ConfigError) as refused:
        parse_config({"log_format": "xml", "rooms": {"shop": {}}}, env={})
    assert refused.value.problems == [("log_format", "must be text or json")]


def test_fuzzed_requests_all_get_a_json_line_and_no_5xx(make_oidc, redis_client, tmp_path, caplog):
    """The request line reads the path, query, form and cookies of any request: the
    fuzzer's inputs must neither break it nor the answer."""
    from . import test_fuzz as fuzz

    caplog.set_level(logging.INFO, logger="oidc_adapter.access")
    for number, target in enumerate(fuzz.TARGETS):  # a fresh world each: admin shots close it
        folder = tmp_path / str(number)
        folder.mkdir()
        redis_client.flushall()
        world = fuzz.build_world(lambda **kw: make_oidc(log_format="json", **kw), folder)
        caplog.clear()
        findings, statuses = fuzz.run_fuzz(world, target, caplog, 10)
        assert not findings, findings[:5]
        found = lines(caplog, "oidc_adapter.access")  # each one JSON, or this fails
        # Some targets make a fresh ticket or code per shot: those lines come on top.
        assert len(found) >= sum(statuses.values())
        assert set(statuses) <= {x["status"] for x in found}
