"""The direct API: a served ticket's access token, early exit, forward auth."""

from __future__ import annotations

import secrets
import threading
import time

import pytest

from oidc_adapter.authorizer import Authorizer, Denied, LocalKeys, api_audience
from oidc_adapter.keys import KeyStore
from oidc_adapter.secret import ticket_proof
from oidc_adapter.web import ticket_cookie

from . import oidc_fixtures as fx
from .oidc_fixtures import ISSUER, OTHER_SECRET, SECRET, SESSION_SECONDS, basic

make_oidc, oidc = fx.make_oidc, fx.oidc  # fixtures

HALL_SECRET = "hall-secret-0123456789abcdef"


def rooms() -> dict:
    return {
        **fx.default_rooms(),
        "line": {"admit_per_minute": 0, "mode": "queue_all", "session_seconds": 120},
    }


def clients() -> dict:
    hall = {"secret": HALL_SECRET, "redirect_uris": ["https://line.example.com/cb"], "room": "line"}
    return {**fx.default_clients(), "line-rp": hall}


@pytest.fixture
def app(make_oidc):
    return make_oidc(rooms(), clients())


@pytest.fixture
def client(app):
    return app.browser


def take(client, room: str = "shop") -> dict:
    response = client.post(f"/api/rooms/{room}/tickets")
    assert response.status_code == 201
    return response.json


def ask_token(client, taken: dict, **kwargs):
    url = f"/api/rooms/{taken['room']}/tickets/{taken['ticket']}/token"
    if not kwargs:
        kwargs = {"headers": {"Authorization": f"Ticket {taken['ticket_secret']}"}}
    return client.post(url, **kwargs)


def authorizer(app, room: str = "shop", audience=None) -> Authorizer:
    return Authorizer(ISSUER, audience, rooms=[room], keys=LocalKeys(published_keys(app)))


def published_keys(app):
    return app.app.extensions["waiting_room"].provider.tokens.keys.public_jwks


def engine(app):
    return app.app.extensions["waiting_room"].engine


# -- the token --------------------------------------------------------------


def test_served_ticket_gets_a_token_for_its_admitted_session(app, client):
    taken = take(client)
    assert taken["state"] == "served"
    response = ask_token(client, taken)
    assert response.status_code == 200, response.json
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert body["token_type"] == "Bearer"
    assert body["session"] == taken["ticket"] and body["room"] == "shop"
    assert body["audience"] == api_audience(ISSUER, "shop") == f"{ISSUER}/api/rooms/shop"
    assert SESSION_SECONDS - 5 <= body["expires_in"] <= SESSION_SECONDS
    identity = authorizer(app).verify(body["access_token"])
    assert identity.session == taken["ticket"]
    assert identity.expires_at == body["expires_at"]
    assert identity.client_id == "room:shop"
    header = app.decode(body["access_token"]).header
    assert header["typ"] == "at+jwt" and header["kid"] and header["alg"] == "RS256"
    assert set(identity.claims) >= {"iss", "sub", "aud", "client_id", "iat", "nbf", "exp"}
    assert set(identity.claims) >= {"auth_time", "jti", "scope", "room", "sid"}
    assert engine(app).status("shop", taken["ticket"], heartbeat=False).state == "admitted"


def test_asking_again_returns_the_same_session_not_a_new_slot(app, client):
    taken = take(client)
    first = ask_token(client, taken).json
    assert app.room()["active"] == 1
    second = ask_token(client, taken).json
    assert (second["session"], second["expires_at"]) == (first["session"], first["expires_at"])
    assert app.room()["active"] == 1
    one, two = (authorizer(app).verify(r["access_token"]) for r in (first, second))
    assert one.subject == two.subject and one.claims["jti"] != two.claims["jti"]


def test_ticket_secret_in_the_json_body_works_too(app, client):
    taken = take(client)
    response = ask_token(client, taken, json={"ticket_secret": taken["ticket_secret"]})
    assert response.status_code == 200


def test_the_browser_ticket_cookie_proves_the_ticket(app, client):
    taken = take(client)
    secret = app.app.extensions["waiting_room"].secret
    carrier = app.app.response_class()
    ticket_cookie.write(
        carrier, secret, "shop", ticket_cookie.TicketCookie(taken["ticket"], "", 0), secure=False
    )
    name, _, value = carrier.headers["Set-Cookie"].split(";")[0].partition("=")
    browser = app.new_browser()
    browser.set_cookie(name, value)
    assert ask_token(browser, taken, json={}).status_code == 200
    other = take(client)
    stolen = ask_token(browser, other, json={})
    assert stolen.status_code == 403


def test_waiting_ticket_gets_409_with_its_position_then_a_token_once_served(app, client):
    first, second = take(client, "line"), take(client, "line")
    response = ask_token(client, second)
    assert response.status_code == 409
    assert response.json["error"] == "not_served"
    assert response.json["position"] == 2 and response.json["ahead"] == 1
    assert int(response.headers["Retry-After"]) > 0
    app.admit(2, "line")
    assert ask_token(client, second).status_code == 200
    assert ask_token(client, first).status_code == 200


def test_asking_while_waiting_counts_as_a_heartbeat(app, client, clock):
    taken = take(client, "line")
    for _ in range(4):
        clock.advance(60)  # 240 s in all, twice the grace period
        assert ask_token(client, taken).status_code == 409
    assert engine(app).status("line", taken["ticket"], heartbeat=False).state == "waiting"


@pytest.mark.parametrize("ending", ["abandoned", "expired", "revoked", "done"])
def test_ended_tickets_get_410(app, client, clock, ending):
    taken = take(client, "line")
    ticket = taken["ticket"]
    if ending == "abandoned":
        for _ in range(130):  # silent past the grace period, while the room is in use
            clock.advance(1)
            engine(app).state("line")
    else:
        app.admit(1, "line")
        assert ask_token(client, taken).status_code == 200
        if ending == "expired":
            clock.advance(121)
        else:
            engine(app).finish("line", ticket, ending)
    response = ask_token(client, taken)
    assert response.status_code == 410
    assert response.json["error"] == "ticket_ended" and response.json["state"] == ending


def test_unknown_ticket_404_unknown_room_404_malformed_400(app, client):
    ghost = secrets.token_urlsafe(16)
    secret = ticket_proof(app.app.extensions["waiting_room"].secret, "shop", ghost)
    fake = {"room": "shop", "ticket": ghost, "ticket_secret": secret}
    assert ask_token(client, fake).status_code == 404
    assert ask_token(client, dict(fake, room="nope")).status_code == 404
    assert ask_token(client, dict(fake, ticket="short")).status_code == 400


# -- stealing a ticket id ---------------------------------------------------


@pytest.mark.parametrize(
    "proof",
    [
        {},
        {"json": {}},
        {"headers": {"Authorization": "Ticket "}},
        {"headers": {"Authorization": "Ticket wrong-secret"}},
        {"headers": {"Authorization": "Bearer whatever"}},
        {"json": {"ticket_secret": "wrong"}},
        {"json": {"ticket_secret": 12345}},
        {"json": {"ticket_secret": "x" * 500}},
    ],
)
def test_a_stolen_ticket_id_gets_nothing_and_changes_nothing(app, client, proof):
    victim = take(client)
    url = f"/api/rooms/shop/tickets/{victim['ticket']}/token"
    before = app.room()
    response = client.post(url, **(proof or {"data": b""}))
    assert response.status_code in (401, 403)
    assert "access_token" not in response.json and "ticket" not in response.json
    assert engine(app).status("shop", victim["ticket"], heartbeat=False).state == "served"
    after = app.room()
    assert (after["active"], after["admitted_total"]) == (
        before["active"],
        before["admitted_total"],
    )


def test_the_secret_of_another_ticket_does_not_work(app, client):
    mine, victim = take(client), take(client)
    response = ask_token(client, dict(victim, ticket_secret=mine["ticket_secret"]))
    assert response.status_code == 403
    secret_of_other_room = take(client, "line")["ticket_secret"]
    response = ask_token(client, dict(victim, ticket_secret=secret_of_other_room))
    assert response.status_code == 403


def test_ticket_secret_sent_twice_is_refused(app, client):
    taken = take(client)
    response = ask_token(
        client,
        taken,
        headers={"Authorization": f"Ticket {taken['ticket_secret']}"},
        json={"ticket_secret": taken["ticket_secret"]},
    )
    assert response.status_code == 400


# -- early exit -------------------------------------------------------------


def admitted(app, client) -> tuple[dict, str]:
    taken = take(client)
    return taken, ask_token(client, taken).json["access_token"]


def test_site_ends_a_session_with_its_token_and_the_slot_frees_at_once(app, client):
    _, token = admitted(app, client)
    assert app.room()["active"] == 1
    response = client.post("/api/sessions/end", data={"token": token}, headers=basic())
    assert response.status_code == 200, response.json
    assert response.json["ended"] is True and response.json["state"] == "done"
    assert app.room()["active"] == 0
    userinfo = client.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert userinfo.status_code == 401
    verify = client.get("/auth/verify", headers={"Authorization": f"Bearer {token}"})
    assert verify.status_code == 401
    with pytest.raises(Denied, match="ended"):
        authorizer_with_sessions(app).verify(token)
    again = client.post("/api/sessions/end", data={"token": token}, headers=basic())
    # The token no longer verifies as a live one only by the queue's state:
    # its signature and expiry are still fine, so ending twice is a no-op.
    assert again.status_code == 200 and again.json["ended"] is False


def authorizer_with_sessions(app) -> Authorizer:
    from oidc_adapter.authorizer import SessionCheck

    return Authorizer(
        ISSUER,
        rooms=["shop"],
        keys=LocalKeys(published_keys(app)),
        sessions=SessionCheck.from_redis(engine(app).client),
    )


def test_site_ends_a_session_by_sid_with_client_secret_post(app, client):
    taken, token = admitted(app, client)
    assert authorizer_with_sessions(app).verify(token).session == taken["ticket"]
    data = {"client_id": "alb", "client_secret": SECRET, "sid": taken["ticket"]}
    response = client.post("/api/sessions/end", data=data)
    assert response.status_code == 200 and response.json["ended"] is True
    assert ask_token(client, taken).status_code == 410


def test_json_body_works_for_early_exit(app, client):
    taken, _ = admitted(app, client)
    response = client.post("/api/sessions/end", json={"sid": taken["ticket"]}, headers=basic())
    assert response.status_code == 200 and response.json["state"] == "done"


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({}, 401),
        ({"headers": basic("alb", "wrong-secret-0123456789")}, 401),
        ({"headers": basic("nobody", SECRET)}, 401),
        ({"data": {"client_id": "alb", "client_secret": OTHER_SECRET}}, 401),
        ({"data": {"client_id": "alb"}}, 401),
        ({"headers": basic(), "data": {"client_id": "alb", "client_secret": SECRET}}, 400),
        ({"headers": basic(), "data": {}}, 400),
        ({"headers": basic(), "data": {"sid": "x", "token": "y"}}, 400),
        ({"headers": basic(), "data": {"token": "not-a-jwt"}}, 400),
        ({"headers": basic(), "data": {"sid": "bad id"}}, 400),
        ({"headers": basic("line-rp", HALL_SECRET), "data": {"token": "{token}"}}, 403),
        ({"headers": basic("line-rp", HALL_SECRET), "data": {"sid": "{sid}"}}, 404),
    ],
)
def test_early_exit_refusals_change_nothing(app, client, kwargs, status):
    taken, token = admitted(app, client)
    if "data" in kwargs:
        fill = {"{token}": token, "{sid}": taken["ticket"]}
        kwargs = dict(kwargs, data={k: fill.get(v, v) for k, v in kwargs["data"].items()})
    response = client.post("/api/sessions/end", **kwargs)
    assert response.status_code == status, response.json
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert engine(app).status("shop", taken["ticket"], heartbeat=False).state == "admitted"
    assert app.room()["active"] == 1


def test_a_waiting_ticket_is_not_a_session_to_end(app, client):
    taken = take(client, "line")
    response = client.post(
        "/api/sessions/end", data={"sid": taken["ticket"]}, headers=basic("line-rp", HALL_SECRET)
    )
    assert response.status_code == 409
    assert engine(app).status("line", taken["ticket"], heartbeat=False).state == "waiting"


def test_an_oidc_login_session_can_be_ended_with_the_id_tokens_sid(app):
    tokens, _ = app.login()
    sid = app.decode(tokens["id_token"]).claims["sid"]
    response = app.browser.post("/api/sessions/end", data={"sid": sid}, headers=basic())
    assert response.status_code == 200 and response.json["ended"] is True
    userinfo = app.browser.get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.status_code == 401


# -- forward auth -----------------------------------------------------------


def test_verify_endpoint_answers_200_with_identity_headers(app, client):
    taken, token = admitted(app, client)
    response = client.get("/auth/verify?room=shop", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.headers["X-Auth-Room"] == "shop"
    assert response.headers["X-Auth-Session"] == taken["ticket"]
    assert response.headers["X-Auth-Subject"] == authorizer(app).verify(token).subject
    assert response.headers["Cache-Control"] == "no-store"


def test_verify_endpoint_refuses_missing_bad_and_foreign_tokens(app, client):
    missing = client.get("/auth/verify")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="waiting-room"'
    bad = client.get("/auth/verify", headers={"Authorization": "Bearer abc.def.ghi"})
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["WWW-Authenticate"]
    _, token = admitted(app, client)
    other_room = client.get("/auth/verify?room=line", headers={"Authorization": f"Bearer {token}"})
    assert other_room.status_code == 401
    assert client.get("/auth/verify?room=nope").status_code == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "HEAD"])
def test_verify_endpoint_gates_every_method(app, client, method):
    """auth_request sends the original method; OPTIONS must not get Flask's automatic 200."""
    assert client.open("/auth/verify", method=method).status_code == 401
    _, token = admitted(app, client)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.open("/auth/verify", method=method, headers=headers).status_code == 200


def test_verify_endpoint_reads_a_named_cookie(app, client):
    _, token = admitted(app, client)
    browser = app.new_browser()
    browser.set_cookie("wr_at", token)
    assert browser.get("/auth/verify").status_code == 401
    assert browser.get("/auth/verify?cookie=wr_at").status_code == 200


def test_verify_endpoint_accepts_tokens_from_the_oidc_flow(app):
    tokens, _ = app.login()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert app.browser.get("/auth/verify?room=shop", headers=headers).status_code == 200
    assert app.browser.get("/auth/verify?room=line", headers=headers).status_code == 401


def test_a_fresh_worker_never_sees_an_empty_key_store_while_it_loads(tmp_path):
    """Threads of a new worker asking while the first one loads the keys wait for them.

    (Seen under load: the first /auth/verify calls of a worker answered "unknown key".)
    """
    KeyStore(tmp_path).ensure()
    store = KeyStore(tmp_path)
    loading, release, waiting = threading.Event(), threading.Event(), threading.Event()
    real_build, real_lock = store._build, store._reload_lock

    def slow_build(*args):
        loading.set()
        assert release.wait(10)
        return real_build(*args)

    class SignallingLock:
        def acquire(self, blocking: bool = True) -> bool:
            if loading.is_set():
                waiting.set()
            return real_lock.acquire(blocking)

        def release(self) -> None:
            real_lock.release()

    store._build, store._reload_lock = slow_build, SignallingLock()
    first = threading.Thread(target=store.public_jwks)
    first.start()
    assert loading.wait(10)
    second: list[dict] = []
    reader = threading.Thread(target=lambda: second.append(store.public_jwks()))
    reader.start()
    deadline = time.monotonic() + 10
    while not (waiting.is_set() or second) and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for thread in (first, reader):
        thread.join(10)
    assert second and second[0]["keys"], "a reader got an empty key set during the first load"
    kid = second[0]["keys"][0]["kid"]
    assert LocalKeys(store.public_jwks).get(kid).key_id == kid


# -- leaving the line ------------------------------------------------------------


def test_the_taker_can_leave_and_the_next_person_moves_up(app, client):
    mine, behind = take(client, "line"), take(client, "line")
    assert engine(app).status("line", behind["ticket"]).position == 2
    left = client.delete(
        f"/api/rooms/line/tickets/{mine['ticket']}",
        headers={"Authorization": f"Ticket {mine['ticket_secret']}"},
    )
    assert left.status_code == 200 and left.json["state"] == "done"
    assert engine(app).status("line", behind["ticket"]).position == 1


def test_leaving_with_only_the_ticket_id_is_refused_and_changes_nothing(app, client):
    victim, behind = take(client, "line"), take(client, "line")
    refused = client.delete(f"/api/rooms/line/tickets/{victim['ticket']}")
    assert refused.status_code == 401
    assert engine(app).status("line", victim["ticket"]).state == "waiting"
    assert engine(app).status("line", behind["ticket"]).position == 2
