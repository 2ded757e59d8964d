"""The waiting hold inside /authorize: wait page, ticket cookie, admission, stale logins."""

from __future__ import annotations

import time
import types
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

import pytest

from oidc_adapter.web import authorize

from . import oidc_fixtures as fx
from .oidc_fixtures import ISSUER, REDIRECT, default_clients, query

make_oidc, oidc = fx.make_oidc, fx.oidc  # fixtures

CLOSED_DOOR = {"shop": {"admit_per_minute": 0, "max_active": 0}}
START_URI = "https://shop.example.com/start-login"


def ticket_cookie(response) -> SimpleCookie:
    names = ("wr_shop=", "__Host-wr_shop=")
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(names)]
    return SimpleCookie(header)


@pytest.fixture
def held(make_oidc):
    """A room that admits nobody by itself: every newcomer waits for an operator."""
    return make_oidc(rooms=CLOSED_DOOR)


def test_waiting_page_is_html_no_store_with_a_ticket_cookie(held):
    response = held.authorize()
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Location" not in response.headers
    cookie = ticket_cookie(response)["wr_shop"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert not cookie["secure"]  # http://localhost issuer: development only
    assert cookie["path"] == "/"
    assert held.room()["waiting"] == 1
    assert not held.code_keys()


def test_ticket_cookie_is_secure_for_a_public_issuer(make_oidc):
    response = make_oidc(rooms=CLOSED_DOOR, issuer="https://wait.example.com").authorize()
    assert response.status_code == 200
    # The __Host- prefix makes browsers insist on Secure, Path=/ and no Domain.
    cookie = ticket_cookie(response)["__Host-wr_shop"]
    assert cookie["secure"] is True and cookie["path"] == "/" and not cookie.get("domain")


def test_reloading_the_waiting_page_keeps_the_same_ticket(held):
    first = held.authorize(state="a")
    again = held.authorize(state="a")
    assert first.status_code == again.status_code == 200
    assert held.room()["last_ticket"] == 1


def test_json_mode_gives_poll_and_continue_urls(held):
    params = held.authorize_params(state="json-state")
    response = held.browser.get(
        "/authorize", query_string=params, headers={"Accept": "application/json"}
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    info = response.json
    assert info["state"] == "waiting" and info["position"] == 1
    poll = held.browser.get(info["poll_url"])
    assert poll.status_code == 200 and poll.json["ticket"] == info["ticket"]

    held.admit(1)
    cont = held.browser.get(info["continue_url"])
    assert cont.status_code == 302
    got = query(cont)
    assert got["state"] == "json-state" and "code" in got


def test_admit_releases_the_same_authorize_url_with_a_code(held):
    params = held.authorize_params(state="keep-me")
    assert held.browser.get("/authorize", query_string=params).status_code == 200
    assert held.admit(1)["admitted"] == 1
    response = held.browser.get("/authorize", query_string=params)
    assert response.status_code == 302
    got = query(response)
    assert got["state"] == "keep-me" and got["iss"] == ISSUER and "code" in got
    assert held.token(got["code"]).status_code == 200


def test_two_browsers_are_served_in_arrival_order(held):
    first, second = held.new_browser(), held.new_browser()
    p1, p2 = held.authorize_params(), held.authorize_params()
    assert first.get("/authorize", query_string=p1).status_code == 200
    assert second.get("/authorize", query_string=p2).status_code == 200

    held.admit(1)
    assert second.get("/authorize", query_string=p2).status_code == 200
    assert "code" in query(first.get("/authorize", query_string=p1))
    held.admit(1)
    assert "code" in query(second.get("/authorize", query_string=p2))


def test_full_room_holds_the_next_user(make_oidc):
    oidc = make_oidc(rooms={"shop": {"admit_per_minute": 600, "max_active": 1}})
    oidc.login()
    other = oidc.new_browser()
    assert oidc.authorize(browser=other).status_code == 200
    assert oidc.room()["waiting"] == 1


def test_queue_all_holds_once_the_bucket_is_used(make_oidc):
    oidc = make_oidc(rooms={"shop": {"admit_per_minute": 6, "mode": "queue_all"}})
    assert "code" in query(oidc.authorize())
    assert oidc.authorize(browser=oidc.new_browser()).status_code == 200


def test_prompt_none_while_waiting_is_login_required(held):
    response = held.authorize(prompt="none", state="silent")
    assert response.status_code == 302
    got = query(response)
    assert got["error"] == "login_required"
    assert got["state"] == "silent" and got["iss"] == ISSUER
    assert "code" not in got


def test_closed_room_redirects_access_denied(make_oidc):
    oidc = make_oidc(rooms={"shop": {"mode": "closed"}})
    response = oidc.authorize(state="c")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(REDIRECT + "?")
    got = query(response)
    assert got["error"] == "access_denied"
    assert got["error_description"]
    assert got["state"] == "c" and got["iss"] == ISSUER
    assert oidc.room()["last_ticket"] == 0


def test_passthrough_answers_at_once(make_oidc):
    oidc = make_oidc(rooms={"shop": {"admit_per_minute": 0, "mode": "passthrough"}})
    tokens, _ = oidc.login()
    assert "id_token" in tokens


# -- stale logins: the RP forgot the request while the user waited ------------------


def shift_time(monkeypatch, seconds: float) -> None:
    """Move the endpoint's wall clock (its `time` module) forward by `seconds`."""
    fake = types.SimpleNamespace(time=lambda: time.time() + seconds)
    monkeypatch.setattr(authorize, "time", fake)


@pytest.fixture
def stale(make_oidc):
    return make_oidc(
        rooms=CLOSED_DOOR,
        clients=default_clients(login_timeout=5, initiate_login_uri=START_URI),
    )


def test_served_user_with_a_stale_request_restarts_the_login_and_keeps_the_turn(stale, monkeypatch):
    params = stale.authorize_params(state="old")
    assert stale.browser.get("/authorize", query_string=params).status_code == 200
    stale.admit(1)
    shift_time(monkeypatch, 10)

    response = stale.browser.get("/authorize", query_string=params)
    assert response.status_code == 302
    assert response.headers["Location"] == START_URI
    assert not stale.code_keys()

    fresh = stale.browser.get("/authorize", query_string=stale.authorize_params(state="new"))
    assert fresh.status_code == 302
    got = query(fresh)
    assert urlsplit(fresh.headers["Location"]).netloc == "shop.example.com"
    assert got["state"] == "new" and "code" in got
    assert stale.room()["last_ticket"] == 1


def test_served_user_within_the_login_timeout_gets_the_code(stale, monkeypatch):
    params = stale.authorize_params()
    assert stale.browser.get("/authorize", query_string=params).status_code == 200
    stale.admit(1)
    shift_time(monkeypatch, 3)
    assert "code" in query(stale.browser.get("/authorize", query_string=params))


def test_login_start_is_remembered_per_request_not_per_reload(stale, monkeypatch):
    """Reloading the same request keeps its start time; the clock keeps running."""
    params = stale.authorize_params()
    assert stale.browser.get("/authorize", query_string=params).status_code == 200
    shift_time(monkeypatch, 4)
    assert stale.browser.get("/authorize", query_string=params).status_code == 200
    stale.admit(1)
    shift_time(monkeypatch, 8)
    response = stale.browser.get("/authorize", query_string=params)
    assert response.headers["Location"] == START_URI


def test_default_initiate_login_uri_is_the_redirect_uri_origin(make_oidc, monkeypatch):
    oidc = make_oidc(rooms=CLOSED_DOOR, clients=default_clients(login_timeout=5))
    params = oidc.authorize_params()
    assert oidc.browser.get("/authorize", query_string=params).status_code == 200
    oidc.admit(1)
    shift_time(monkeypatch, 10)
    response = oidc.browser.get("/authorize", query_string=params)
    assert response.headers["Location"] == "https://shop.example.com/"
