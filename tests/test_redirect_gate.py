"""The WSGI gate of the redirect integration (`authorizer.WaitingRoomGate`).

The gate's outbound calls (the JWKS, /auth/handoff) are answered by the real
app through requests-mock, so every token here is one our server issued.
The same walk with the real server and real Chromium is in
tests/browser/test_redirect_browser.py.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests
from werkzeug.test import Client

from oidc_adapter.authorizer import Authorizer, SessionCheck, WaitingRoomGate

from . import oidc_fixtures as fx
from .oidc_fixtures import ISSUER, SITE, Oidc, admin

make_oidc = fx.make_oidc  # a fixture

PAGE = f"{SITE}/orders?x=1&y=%26"


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    identity = environ.get("waiting_room.identity")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{identity.session if identity else '-'} {environ['QUERY_STRING']}".encode()]


class Bridge:
    """The waiting room as the gate reaches it over HTTP: the real app behind requests-mock."""

    def __init__(self, oidc: Oidc, mocker: Any):
        self.calls: list[str] = []
        server = oidc.app.test_client(use_cookies=False)
        mocker.get(
            f"{ISSUER}/.well-known/jwks.json", json=server.get("/.well-known/jwks.json").json
        )
        mocker.get(re.compile(re.escape(f"{ISSUER}/auth/handoff")), content=self._handoff)
        self._server = server

    def _handoff(self, request: requests.PreparedRequest, context: Any) -> bytes:
        self.calls.append(request.headers.get("Accept", ""))
        answer = self._server.get(request.path_url, headers=dict(request.headers))
        context.status_code = answer.status_code
        context.headers.update(answer.headers)
        return answer.get_data()


@pytest.fixture
def world(make_oidc, requests_mock):
    oidc = make_oidc()
    bridge = Bridge(oidc, requests_mock)
    svc = oidc.app.extensions["waiting_room"]
    authorizer = Authorizer(
        ISSUER, rooms=["shop"], sessions=SessionCheck.from_redis(svc.redis, svc.clock)
    )
    gate = WaitingRoomGate(
        hello, issuer=ISSUER, room="shop", authorizer=authorizer, exempt=["/healthz"]
    )
    site = Client(gate)
    return oidc, bridge, site


def site_get(site: Client, url: str, **kwargs: Any):
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    return site.get(parts.path, query_string=parts.query, base_url=base, **kwargs)


def through_the_room(oidc: Oidc, site: Client, url: str = PAGE) -> str:
    """The visitor's trip: refused at the site, sent to /wait, back with a handoff URL."""
    sent = site_get(site, url)
    assert sent.status_code == 302
    wait_url = sent.headers["Location"]
    assert wait_url == f"{ISSUER}/wait/shop?return_to={quote(url, safe='')}"
    back = oidc.browser.get(wait_url.removeprefix(ISSUER))
    assert back.status_code == 302, back.get_data(as_text=True)
    return back.headers["Location"]


def test_the_gate_sends_visitors_to_wait_and_lets_them_in_with_the_handoff(world):
    oidc, bridge, site = world
    handoff_url = through_the_room(oidc, site)
    assert handoff_url.startswith(PAGE + "&wr_token=")
    answer = site_get(site, handoff_url)
    assert bridge.calls == ["application/json"]  # redeemed server to server, in JSON
    assert answer.status_code == 302 and answer.headers["Location"] == PAGE
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("wr_at=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" in cookie and "Path=/;" in cookie
    sid = oidc.decode(parse_qs(urlsplit(handoff_url).query)["wr_token"][0]).claims["sid"]
    inside = site_get(site, PAGE)
    assert inside.status_code == 200 and inside.text == f"{sid} x=1&y=%26"
    assert site_get(site, PAGE).status_code == 200  # a reload too


def test_a_handoff_used_twice_gets_a_page_with_a_link_back_not_a_redirect(world):
    oidc, _, site = world
    handoff_url = through_the_room(oidc, site)
    assert site_get(site, handoff_url).status_code == 302
    other_browser = Client(site.application)
    again = site_get(other_browser, handoff_url)
    assert again.status_code == 403 and "Location" not in again.headers
    assert "Set-Cookie" not in again.headers
    assert 'href="/orders?x=1&amp;y=%26"' in again.text  # the clean URL, token removed
    assert site_get(other_browser, PAGE).status_code == 302  # still no way in


def test_early_exit_sends_the_next_request_back_to_wait(world):
    oidc, _, site = world
    handoff_url = through_the_room(oidc, site)
    site_get(site, handoff_url)
    sid = site_get(site, PAGE).text.split()[0]
    ended = oidc.browser.post("/api/sessions/end", data={"sid": sid}, headers=fx.basic())
    assert ended.status_code == 200 and ended.json["ended"] is True
    after = site_get(site, PAGE)
    assert after.status_code == 302 and after.headers["Location"].startswith(f"{ISSUER}/wait/")


def test_non_get_requests_and_exempt_paths(world):
    _, _, site = world
    posted = site.post("/orders", base_url=SITE)
    assert posted.status_code == 401 and posted.json["error"] == "invalid_token"
    assert site.get("/healthz", base_url=SITE).text == "- "
    repeated = site.get("/orders?wr_token=a&wr_token=b", base_url=SITE)
    assert repeated.status_code == 400 and "Location" not in repeated.headers


@pytest.mark.parametrize(
    "trouble",
    [{"exc": requests.ConnectionError}, {"status_code": 502, "text": "bad gateway"}],
    ids=["unreachable", "5xx"],
)
def test_the_waiting_room_unreachable_is_a_503_not_a_loop(world, requests_mock, trouble):
    oidc, _, site = world
    handoff_url = through_the_room(oidc, site)
    requests_mock.get(re.compile(re.escape(f"{ISSUER}/auth/handoff")), **trouble)
    answer = site_get(site, handoff_url)
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert "Location" not in answer.headers and "Set-Cookie" not in answer.headers


def test_a_revoked_session_cannot_be_handed_off(world):
    oidc, _, site = world
    handoff_url = through_the_room(oidc, site)
    sid = oidc.decode(parse_qs(urlsplit(handoff_url).query)["wr_token"][0]).claims["sid"]
    revoke = oidc.browser.post("/admin/rooms/shop/revoke", json={"ticket": sid}, headers=admin())
    assert revoke.status_code == 200
    assert site_get(site, handoff_url).status_code == 403
