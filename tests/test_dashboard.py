"""The operator dashboard: sign-in, session cookie, CSRF, the controls (the
admin API's own actions) and the chart data, on a real Redis."""

from __future__ import annotations

import json
import logging
import re

import pytest

from oidc_adapter.app import create_app
from oidc_adapter.config import parse_config
from oidc_adapter.web import dashboard_session as session

from .conftest import ADMIN_TOKEN
from .helpers import tampered

ALICE = "alice-token-0123456789abcdef"
ROOMS = {"shop": {"admit_per_minute": 60, "max_active": 0}}


@pytest.fixture
def build(redis_url, redis_client, clock):
    def factory(admin_token: str = ADMIN_TOKEN, issuer: str = "http://localhost:8000", **extra):
        data = {
            "issuer": issuer,
            "redis_url": redis_url,
            "admin_token": admin_token,
            "admin_tokens": {"alice": {"env": "ALICE_TOKEN"}},
            "rooms": ROOMS,
            **extra,
        }
        app = create_app(parse_config(data, env={"ALICE_TOKEN": ALICE}), clock=clock)
        app.testing = True
        return app

    return factory


def signin_nonce(client) -> str:
    page = client.get("/admin/")
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def sign_in(client, token: str = ADMIN_TOKEN):
    return client.post("/admin/signin", data={"token": token, "csrf": signin_nonce(client)})


def csrf_of(client) -> str:
    page = client.get("/admin/ui/rooms/shop")
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


def test_without_a_session_pages_ask_to_sign_in_and_data_is_refused(build):
    client = build().test_client()
    page = client.get("/admin/")
    assert page.status_code == 200 and 'name="token"' in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    room = client.get("/admin/ui/rooms/shop")
    assert room.status_code == 303 and room.headers["Location"] == "/admin/"
    data = client.get("/admin/ui/data/rooms/shop")
    assert data.status_code == 401 and data.json["error"] == "invalid_session"
    assert client.post("/admin/ui/rooms/shop/pause").status_code == 401
    assert client.get("/admin/ui/data/rooms").status_code == 401


def test_signing_in_sets_a_strict_http_only_cookie(build):
    client = build().test_client()
    response = sign_in(client)
    assert response.status_code == 303
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("wr_admin="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie and f"Max-Age={session.SESSION_SECONDS}" in cookie
    assert ADMIN_TOKEN not in cookie
    overview = client.get("/admin/")
    assert overview.status_code == 200 and 'data-room="shop"' in overview.text
    assert "Signed in as <strong>admin</strong>" in overview.text


def test_an_https_issuer_makes_the_cookie_secure_and_host_only(build):
    client = build(issuer="https://wait.example").test_client()
    nonce_page = client.get("/admin/", base_url="https://wait.example")
    nonce = re.search(r'name="csrf" value="([^"]+)"', nonce_page.text).group(1)
    response = client.post(
        "/admin/signin", data={"token": ALICE, "csrf": nonce}, base_url="https://wait.example"
    )
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if "wr_admin=" in c)
    assert cookie.startswith("__Host-wr_admin=") and "Secure" in cookie
    page = client.get("/admin/", base_url="https://wait.example")
    assert "Signed in as <strong>alice</strong>" in page.text


def test_a_wrong_token_or_a_forged_form_gets_no_session(build):
    client = build().test_client()
    wrong = sign_in(client, ADMIN_TOKEN + "x")
    assert wrong.status_code == 401 and "not a valid admin token" in wrong.text
    assert not any("wr_admin=" in c for c in wrong.headers.getlist("Set-Cookie"))
    forged = client.post("/admin/signin", data={"token": ADMIN_TOKEN, "csrf": "guess"})
    assert forged.status_code == 403
    assert not any("wr_admin=" in c for c in forged.headers.getlist("Set-Cookie"))
    assert client.get("/admin/ui/data/rooms").status_code == 401


def test_a_change_needs_the_csrf_token_and_is_logged_with_the_tokens_name(build, caplog):
    client = build(log_format="json").test_client()
    caplog.set_level(logging.INFO, logger="oidc_adapter.operator")
    sign_in(client, ALICE)
    csrf = csrf_of(client)
    refused = client.post("/admin/ui/rooms/shop/pause")
    assert refused.status_code == 403 and refused.json["error"] == "csrf_refused"
    # The token with its last character changed (to one it is not already).
    forged = csrf[:-1] + ("1" if csrf.endswith("0") else "0")
    wrong = client.post("/admin/ui/rooms/shop/pause", headers={"X-CSRF-Token": forged})
    assert wrong.status_code == 403
    assert client.get("/admin/ui/data/rooms/shop").json["room"]["mode"] == "auto"
    paused = client.post("/admin/ui/rooms/shop/pause", headers={"X-CSRF-Token": csrf})
    assert paused.status_code == 200 and paused.json["mode"] == "paused"
    changed = client.post(
        "/admin/ui/rooms/shop/settings",
        json={"admit_per_minute": 30},
        headers={"X-CSRF-Token": csrf},
    )
    assert changed.status_code == 200 and changed.json["admit_per_minute"] == 30
    bad = client.post(
        "/admin/ui/rooms/shop/admit", json={"count": 0}, headers={"X-CSRF-Token": csrf}
    )
    assert bad.status_code == 400 and bad.json["field"] == "count"  # the admin API's own rule
    found = [
        json.loads(r.getMessage()) for r in caplog.records if r.name == "oidc_adapter.operator"
    ]
    assert [(x["who"], x["action"], x["status"]) for x in found] == [
        ("alice", "signin", 303),
        ("alice", "pause", 403),
        ("alice", "pause", 403),
        ("alice", "pause", 200),
        ("alice", "change_settings", 200),
        ("alice", "admit", 400),
    ]
    assert found[4]["request"] == {"admit_per_minute": 30}


def test_signing_out_needs_the_csrf_token_and_ends_the_session(build):
    client = build().test_client()
    sign_in(client)
    csrf = csrf_of(client)
    assert client.post("/admin/signout").status_code == 403
    assert client.post("/admin/signout", data={"csrf": csrf}).status_code == 303
    assert client.get("/admin/ui/data/rooms").status_code == 401


def test_changing_the_token_ends_its_sessions(build):
    first = build().test_client()
    sign_in(first)
    cookie = first.get_cookie("wr_admin").value
    assert first.get("/admin/ui/data/rooms").status_code == 200
    rotated = build(admin_token="a-brand-new-admin-token-0123456789").test_client()
    rotated.set_cookie("wr_admin", cookie)
    assert rotated.get("/admin/ui/data/rooms").status_code == 401


def test_a_session_expires_and_a_tampered_cookie_counts_for_nothing():
    secret, credentials = "s" * 40, {"admin": ADMIN_TOKEN}
    raw = session.issue(secret, "admin", ADMIN_TOKEN, now=1000)
    assert session.read(secret, raw, credentials, now=1000) is not None
    assert session.read(secret, raw, credentials, now=1000 + session.SESSION_SECONDS) is None
    assert session.read(secret, tampered(raw), credentials, now=1000) is None
    assert session.read("t" * 40, raw, credentials, now=1000) is None
    assert session.read(secret, raw, {"bob": ADMIN_TOKEN}, now=1000) is None


def test_room_data_charts_the_rush(build, clock):
    client = build().test_client()
    sign_in(client)
    for _ in range(5):
        assert client.post("/api/rooms/shop/tickets").status_code == 201
    clock.advance(10)
    data = client.get("/admin/ui/data/rooms/shop").json
    assert data["room"]["room"] == "shop" and data["room"]["last_ticket"] == 5
    series = data["charts"]["series"]
    assert series["arrivals_per_minute"][0] == 30  # 5 in the first 10 s bucket
    assert len(series["waiting"]) == 2 and data["charts"]["bucket_seconds"] == 10
    rooms = client.get("/admin/ui/data/rooms").json["rooms"]
    assert [r["room"] for r in rooms] == ["shop"]


def test_the_preview_shows_the_estimate_under_the_proposed_rate(build):
    client = build(rooms={"shop": {"admit_per_minute": 1, "max_active": 0}}).test_client()
    for _ in range(30):
        client.post("/api/rooms/shop/tickets")
    sign_in(client)
    csrf = csrf_of(client)
    url = "/admin/ui/rooms/shop/preview"
    faster = client.post(url, json={"admit_per_minute": 60}, headers={"X-CSRF-Token": csrf})
    assert faster.status_code == 200
    assert faster.json["proposed"]["seconds"] < faster.json["current"]["seconds"]
    assert client.get("/admin/ui/data/rooms/shop").json["room"]["admit_per_minute"] == 1
    bad = client.post(url, json={"admit_per_minute": -1}, headers={"X-CSRF-Token": csrf})
    assert bad.status_code == 400 and bad.json["field"] == "admit_per_minute"
    assert client.post(url, json={"admit_per_minute": 60}).status_code == 403


def test_hostile_values_get_a_clear_refusal_never_a_5xx(build):
    client = build().test_client()
    sign_in(client)
    csrf = csrf_of(client)
    hostile = ["é" * 5, "\x00", "x" * 5000, "", "null"]
    for value in hostile:
        assert client.post("/admin/signin", data={"token": value, "csrf": value}).status_code == 403
        header = {"X-CSRF-Token": value.encode().decode("latin-1")}
        assert client.post("/admin/ui/rooms/shop/pause", headers=header).status_code == 403
    outsider = build().test_client()
    outsider.set_cookie("wr_admin", "é-not-a-session")
    assert outsider.get("/admin/ui/data/rooms").status_code == 401
    url, headers = "/admin/ui/rooms/shop", {"X-CSRF-Token": csrf}
    for body in ([], "text", {"admit_per_minute": "fast"}, {"max_active": -5}, {}):
        assert client.post(f"{url}/preview", json=body, headers=headers).status_code == 400
        assert client.post(f"{url}/settings", json=body, headers=headers).status_code == 400
    assert client.post(f"{url}/preview", data="{", headers=headers).status_code == 400
    assert client.post(f"{url}/revoke", json={"ticket": "é"}, headers=headers).status_code in (
        400,
        404,
    )
    assert client.get("/admin/ui/data/rooms/nope").status_code == 404
    assert client.get("/admin/ui/data/rooms/shop").json["room"]["mode"] == "auto"
