"""The redirect integration (issue 12): /wait/<room>?return_to=, the handoff token,
/auth/handoff, and the access-log scrubbing. The WSGI gate is in
tests/test_redirect_gate.py; the whole walk in real browsers in
tests/browser/test_redirect_browser.py.
"""

from __future__ import annotations

import base64
import time
from datetime import timedelta
from http.cookies import SimpleCookie
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from oidc_adapter.app import create_app
from oidc_adapter.authorizer import HANDOFF_TOKEN_TYPE, Denied, api_audience
from oidc_adapter.config import ConfigError
from oidc_adapter.gunicorn_app import ScrubbingLogger, gunicorn_options, scrub
from oidc_adapter.return_to import ReturnToRefused, check_return_to, raw_return_to, with_token

from . import oidc_fixtures as fx
from .conftest import make_config
from .helpers import free_port, tampered
from .oidc_fixtures import SITE, Oidc, admin

make_oidc, oidc = fx.make_oidc, fx.oidc  # fixtures

PAGE = f"{SITE}/sale/item?a=1&b=2"
OTHER_SITE = "https://other.example.com:8443"
SCRIPT = "<script>alert(1)</script>"


def rooms(**shop: Any) -> dict[str, Any]:
    """`shop` serves at once and has a default return address; `held` admits nobody."""
    out = fx.default_rooms()
    out["shop"].update(
        {"return_origins": [SITE, OTHER_SITE], "default_return_to": f"{SITE}/landing", **shop}
    )
    out["held"] = {"admit_per_minute": 0, "return_origins": [SITE]}
    return out


@pytest.fixture
def site(make_oidc) -> Oidc:
    return make_oidc(rooms=rooms())


def wait(oidc: Oidc, return_to: str | None = PAGE, room: str = "shop", **kwargs: Any):
    """return_to encoded whole, as URLSearchParams or urlencode do (werkzeug's test
    client would leave `://` alone, which reads as nginx's unencoded form)."""
    query = "" if return_to is None else "?return_to=" + quote(return_to, safe="")
    return oidc.browser.get(f"/wait/{room}{query}", **kwargs)


def handoff_token(response) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)
    found = parse_qs(urlsplit(response.headers["Location"]).query)["wr_token"]
    assert len(found) == 1
    return found[0]


def redeem(oidc: Oidc, token: str, json: bool = False, **params: str):
    headers = {"Accept": "application/json"} if json else {}
    client = oidc.new_browser()  # the site's domain: none of our cookies
    return client.get("/auth/handoff", query_string={"wr_token": token, **params}, headers=headers)


def assert_refused_page(response, status: int) -> None:
    """Our page: no redirect, no cookie (neither a ticket nor the site's), nothing reflected."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    assert "Location" not in response.headers
    assert not response.headers.getlist("Set-Cookie")
    assert SCRIPT not in response.get_data(as_text=True)


def session_state(oidc: Oidc, sid: str, room: str = "shop") -> str:
    return oidc.app.extensions["waiting_room"].engine.status(room, sid, heartbeat=False).state


# -- return_to: the rules ------------------------------------------------------------

ORIGINS = (SITE, "http://localhost:8080")

ACCEPTED = [
    f"{SITE}",
    f"{SITE}/",
    f"{SITE}/any/path;x=1?q=a%26b&c=&d",
    f"{SITE}/?",
    "http://localhost:8080/p?next=/x",
    f"{SITE}/path%20with%2Fencoded",
    f"{SITE}/@user/profile",
]

REFUSED = {
    "prefix of another host": f"{SITE}.evil.com/",
    "other origin": "https://evil.example.com/",
    "userinfo": "https://shop.example.com@evil.example.com/",
    "userinfo with password": "https://user:pw@shop.example.com/",
    "userinfo of ours": f"https://x@{SITE[8:]}/",
    "backslash": "https://shop.example.com\\@evil.example.com/",
    "backslash in path": f"{SITE}/a\\b",
    "encoded dot in host": "https://shop.example.com%2eevil.com/",
    "encoded host": "https://shop%2Eexample.com/",
    "encoded at": "https://evil.example.com%40shop.example.com/",
    "fragment": f"{SITE}/page#top",
    "empty fragment": f"{SITE}/page#",
    "upper-case host": "https://SHOP.example.com/",
    "upper-case scheme": "HTTPS://shop.example.com/",
    "other port": "https://shop.example.com:8443/",
    "explicit default port": "https://shop.example.com:443/",
    "empty port": "https://shop.example.com:/",
    "malformed port": "https://shop.example.com:99999/",
    "http instead of https": "http://shop.example.com/",
    "trailing dot host": "https://shop.example.com./",
    "protocol-relative": "//shop.example.com/",
    "scheme-relative single slash": "https:/shop.example.com/",
    "three slashes": "https:///shop.example.com/",
    "relative path": "/sale",
    "javascript": "javascript:alert(1)//https://shop.example.com/",
    "data": "data:text/html,hi",
    "empty": "",
    "space": f"{SITE}/a b",
    "leading space": f" {SITE}/",
    "tab in host": "https://shop.exa\tmple.com/",
    "newline": f"{SITE}/\r\nSet-Cookie: x=1",
    "NUL": f"{SITE}/\x00",
    "DEL": f"{SITE}/\x7f",
    "non-ASCII host": "https://shоp.example.com/",  # noqa: RUF001 (a Cyrillic o, on purpose)
    "non-ASCII path": f"{SITE}/café",
    "oversized": f"{SITE}/?" + "x" * 2100,
    "script": f"https://evil.example.com/{SCRIPT}",
    "ipv6 garbage": "https://[::1/",
}


@pytest.mark.parametrize("url", ACCEPTED)
def test_return_to_on_a_registered_origin_is_kept_exactly(url):
    assert check_return_to(url, ORIGINS) == url


@pytest.mark.parametrize("url", REFUSED.values(), ids=REFUSED.keys())
def test_return_to_tricks_are_refused(url):
    with pytest.raises(ReturnToRefused):
        check_return_to(url, ORIGINS)


def test_the_token_rides_in_the_query_after_everything_else():
    assert with_token(f"{SITE}/p", "T") == f"{SITE}/p?wr_token=T"
    assert with_token(f"{SITE}/p?a=1", "T") == f"{SITE}/p?a=1&wr_token=T"
    assert with_token(f"{SITE}/p?", "T") == f"{SITE}/p?wr_token=T"
    assert with_token(f"{SITE}/p?a=1&", "T") == f"{SITE}/p?a=1&wr_token=T"


def test_an_unencoded_return_to_from_nginx_is_the_rest_of_the_query():
    assert raw_return_to(f"return_to={SITE}/p?a=1&b=%26") == f"{SITE}/p?a=1&b=%26"
    assert raw_return_to("return_to=https%3A%2F%2Fshop.example.com%2F") is None
    assert raw_return_to(f"x=1&return_to={SITE}/") is None
    assert raw_return_to("") is None


# -- /wait: refused return addresses get our page and change nothing -----------------

WAIT_REFUSALS = {name: url for name, url in REFUSED.items() if "\x00" not in url}


@pytest.mark.parametrize("url", WAIT_REFUSALS.values(), ids=WAIT_REFUSALS.keys())
def test_wait_with_a_bad_return_to_is_an_error_page_not_a_redirect(site, url):
    response = wait(site, url)
    assert_refused_page(response, 400)
    assert response.headers["Cache-Control"] == "no-store"
    assert not response.headers.getlist("Set-Cookie")  # no ticket either
    assert site.room()["last_ticket"] == 0


def test_wait_refuses_a_repeated_a_missing_or_an_unknown_return_address(site):
    repeated = site.browser.get(f"/wait/shop?return_to={quote(PAGE)}&return_to={quote(PAGE)}")
    assert_refused_page(repeated, 400)
    assert_refused_page(wait(site, None, room="held"), 400)  # no default_return_to there
    assert_refused_page(wait(site, f"{OTHER_SITE}/x", room="held"), 400)  # another room's site
    assert_refused_page(wait(site, PAGE, room="nope"), 404)
    raw = site.browser.get(f"/wait/shop?return_to=https://evil.example.com/?{SITE}")
    assert_refused_page(raw, 400)
    assert site.room()["last_ticket"] == 0 and site.room("held")["last_ticket"] == 0


def test_wait_in_a_closed_room_is_an_error_page(site):
    site.browser.post("/admin/rooms/shop/close", headers=admin())
    assert_refused_page(wait(site), 403)


def test_error_pages_are_translated(site):
    response = wait(site, "https://evil.example.com/", headers={"Accept-Language": "de"})
    assert "Die Rücksprungadresse ist nicht registriert." in response.get_data(as_text=True)


# -- /wait: waiting, then back with a handoff token ---------------------------------


def test_a_waiting_visitor_gets_the_waiting_page_that_comes_back_here(site):
    response = wait(site, PAGE, room="held")
    assert response.status_code == 200 and response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    continue_url = f"/wait/held?return_to={quote(PAGE, safe='')}"
    assert f'data-continue-url="{continue_url}"' in body
    assert any(c.startswith("wr_held=") for c in response.headers.getlist("Set-Cookie"))
    again = site.browser.get(continue_url, headers={"Accept": "application/json"})
    assert again.json["number"] == 1 and again.json["state"] == "waiting"  # the same ticket
    assert again.json["continue_url"] == fx.ISSUER + continue_url
    site.admit(1, "held")
    assert urlsplit(site.browser.get(continue_url).headers["Location"]).netloc == SITE[8:]
    assert site.room("held")["last_ticket"] == 1


def test_a_served_visitor_goes_back_with_a_signed_single_use_handoff(site):
    before = int(time.time())
    response = wait(site)
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    token = handoff_token(response)
    assert response.headers["Location"] == f"{PAGE}&wr_token={token}"
    decoded = site.decode(token)
    assert decoded.header["typ"] == HANDOFF_TOKEN_TYPE and decoded.header["kid"]
    claims = decoded.claims
    assert claims["iss"] == fx.ISSUER and claims["aud"] == SITE
    assert claims["return_to"] == PAGE and claims["room"] == "shop"
    assert 0 < claims["exp"] - claims["iat"] <= 15 and claims["iat"] >= before
    assert len(claims["jti"]) >= 16 and claims["sub"]
    assert session_state(site, claims["sid"]) == "admitted"  # the session has started
    session_end = site.app.extensions["waiting_room"].engine.status(
        "shop", claims["sid"], heartbeat=False
    )
    assert claims["session_exp"] == session_end.session_expires_ms // 1000
    assert claims["session_exp"] - claims["iat"] == pytest.approx(fx.SESSION_SECONDS, abs=2)


def test_an_admitted_visitor_comes_straight_back_in_the_same_session(site):
    first = site.decode(handoff_token(wait(site))).claims
    second = site.decode(handoff_token(wait(site, f"{OTHER_SITE}/elsewhere"))).claims
    assert second["sid"] == first["sid"] and second["jti"] != first["jti"]
    assert second["aud"] == OTHER_SITE and second["return_to"] == f"{OTHER_SITE}/elsewhere"
    assert site.room()["last_ticket"] == 1


def test_nginx_unencoded_return_to_keeps_the_query_exactly(site):
    raw = f"{SITE}/search?q=a%26b&page=2&empty="
    response = site.browser.get(f"/wait/shop?return_to={raw}")
    assert site.decode(handoff_token(response)).claims["return_to"] == raw
    assert response.headers["Location"].startswith(raw + "&wr_token=")


def test_upstream_mode_uses_the_default_return_address(site):
    response = wait(site, None)
    assert site.decode(handoff_token(response)).claims["return_to"] == f"{SITE}/landing"


def test_passthrough_hands_back_at_once(make_oidc):
    oidc = make_oidc(rooms=rooms(mode="passthrough"))
    assert oidc.decode(handoff_token(wait(oidc))).claims["return_to"] == PAGE


# -- /auth/handoff ----------------------------------------------------------------------


def test_the_handoff_sets_the_site_cookie_and_redirects_to_the_clean_url(site):
    response = redeem(site, handoff_token(wait(site)))
    assert response.status_code == 302
    assert response.headers["Location"] == PAGE
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    [header] = response.headers.getlist("Set-Cookie")
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    assert {"httponly", "secure", "samesite", "path", "max-age"} <= attributes
    assert "SameSite=Lax" in header and "Path=/;" in header + ";"
    morsel = SimpleCookie(header)["wr_at"]
    assert int(morsel["max-age"]) == pytest.approx(fx.SESSION_SECONDS, abs=3)
    access = site.decode(morsel.value)
    assert access.header["typ"] == "at+jwt"
    assert access.claims["aud"] == api_audience(fx.ISSUER, "shop")
    gate = site.app.test_client(use_cookies=False)  # what the site's proxy asks
    verified = gate.get(
        "/auth/verify?room=shop&cookie=wr_at", headers={"Cookie": f"wr_at={morsel.value}"}
    )
    assert verified.status_code == 200
    assert verified.headers["X-Auth-Session"] == access.claims["sid"]


def test_the_cookie_name_and_path_are_the_rooms(make_oidc):
    oidc = make_oidc(rooms=rooms(handoff_cookie="shop_gate", handoff_cookie_path="/sale"))
    header = redeem(oidc, handoff_token(wait(oidc))).headers["Set-Cookie"]
    assert header.startswith("shop_gate=") and "Path=/sale" in header


def test_http_sites_get_no_secure_flag(make_oidc):
    oidc = make_oidc(rooms=rooms(return_origins=["http://localhost:8080"], default_return_to=None))
    token = handoff_token(wait(oidc, "http://localhost:8080/p"))
    assert "Secure" not in redeem(oidc, token).headers["Set-Cookie"]


def test_json_mode_for_the_wsgi_gate(site):
    response = redeem(site, handoff_token(wait(site)), json=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert set(body) == {"access_token", "expires_at", "return_to", "cookie"}
    assert body["return_to"] == PAGE and body["cookie"] == {"name": "wr_at", "path": "/"}
    assert site.decode(body["access_token"]).claims["exp"] == body["expires_at"]


def test_a_handoff_works_once(site):
    token = handoff_token(wait(site))
    assert redeem(site, token).status_code == 302
    assert_refused_page(redeem(site, token), 403)
    again = redeem(site, token, json=True)
    assert again.status_code == 403 and again.json["error"] == "invalid_token"
    assert "already used" in again.json["error_description"]


def test_the_refused_page_on_the_sites_domain_styles_itself_from_ours(site):
    token = handoff_token(wait(site))
    redeem(site, token)
    page = redeem(site, token)
    csp = page.headers["Content-Security-Policy"]
    assert f"style-src {fx.ISSUER};" in csp and "script-src 'self'" in csp
    assert f'href="{fx.ISSUER}/static/waiting/waiting.css' in page.get_data(as_text=True)


def test_a_matching_return_to_may_be_sent_a_different_one_is_refused(site):
    token = handoff_token(wait(site))
    assert_refused_page(redeem(site, token, return_to=f"{SITE}/other"), 403)
    assert redeem(site, token, return_to=PAGE).status_code == 302  # the refusal burnt nothing


def test_a_session_ended_before_the_handoff_is_refused(site):
    token = handoff_token(wait(site))
    sid = site.decode(token).claims["sid"]
    revoked = site.browser.post("/admin/rooms/shop/revoke", json={"ticket": sid}, headers=admin())
    assert revoked.status_code == 200
    refused = redeem(site, token, json=True)
    assert refused.status_code == 403 and refused.json["error"] == "session_ended"


def test_a_site_removed_from_return_origins_can_no_longer_redeem(site, make_oidc):
    token = handoff_token(wait(site, f"{OTHER_SITE}/x"))
    narrower = make_oidc(rooms=rooms(return_origins=[SITE]))
    assert_refused_page(redeem(narrower, token), 403)


def forge(oidc: Oidc, header: dict | None = None, key: Any = None, **changes: Any) -> str:
    """A handoff token built from a real one, with changes, signed by our key by default."""
    real = oidc.decode(handoff_token(wait(oidc)))
    claims = {k: v for k, v in {**real.claims, **changes}.items() if v is not None}
    kid, alg, signing_key = oidc.app.extensions["waiting_room"].provider.tokens.keys.signing_key()
    head = {"alg": alg, "kid": kid, "typ": HANDOFF_TOKEN_TYPE, **(header or {})}
    return jwt.encode(head, claims, key or signing_key, algorithms=[head["alg"]])


def unsigned(token: str) -> str:
    """The same claims under `alg: none`."""
    head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"wr-handoff+jwt"}').rstrip(b"=")
    return f"{head.decode()}.{token.split('.')[1]}."


FORGED = {
    "expired": lambda o: forge(o, exp=int(time.time()) - 30, iat=int(time.time()) - 40),
    "aud of another site": lambda o: forge(o, aud=OTHER_SITE),
    "aud and return_to of an unregistered site": lambda o: forge(
        o, aud="https://evil.example.com", return_to="https://evil.example.com/"
    ),
    "return_to with a fragment": lambda o: forge(o, return_to=f"{SITE}/#x"),
    "another issuer": lambda o: forge(o, iss="https://evil.example.com"),
    "unknown room": lambda o: forge(o, room="nope"),
    "room not a string": lambda o: forge(o, room=["shop"]),
    "no jti": lambda o: forge(o, jti=None),
    "malformed sid": lambda o: forge(o, sid="../x"),
    "typ at+jwt": lambda o: forge(o, header={"typ": "at+jwt"}),
    "typ JWT": lambda o: forge(o, header={"typ": "JWT"}),
    "unknown kid": lambda o: forge(o, header={"kid": "nope"}),
    "another key, our kid": lambda o: forge(o, key=RSAKey.generate_key(2048)),
    "tampered": lambda o: tampered(forge(o)),
    "alg none": lambda o: unsigned(forge(o)),
    "an access token": lambda o: o.login()[0]["access_token"],
    "an ID token": lambda o: o.login()[0]["id_token"],
    "not a JWT": lambda o: "not-a-token",
    "script": lambda o: SCRIPT,
}


def test_a_forged_token_without_changes_is_good(site):
    """The refusals below are the changes' doing, not the forging's."""
    assert redeem(site, forge(site)).status_code == 302


@pytest.mark.parametrize("make", FORGED.values(), ids=FORGED.keys())
def test_forged_or_foreign_tokens_are_refused_with_a_page(site, make):
    token = make(site)
    assert_refused_page(redeem(site, token), 403)
    assert redeem(site, token, json=True).status_code == 403


def test_missing_empty_oversized_or_repeated_tokens_are_bad_requests(site):
    client = site.new_browser()
    assert_refused_page(client.get("/auth/handoff"), 400)
    assert_refused_page(client.get("/auth/handoff?wr_token="), 400)
    assert_refused_page(client.get("/auth/handoff", query_string={"wr_token": "a" * 9000}), 400)
    token = handoff_token(wait(site))
    assert_refused_page(client.get(f"/auth/handoff?wr_token={token}&wr_token={token}"), 400)
    assert redeem(site, token).status_code == 302  # still unused


def test_a_handoff_token_is_never_an_access_token(site):
    token = handoff_token(wait(site))
    with pytest.raises(Denied, match="typ must be at\\+jwt"):
        site.app.extensions["waiting_room"].authorizer("shop").verify(token)
    bearer = {"Authorization": f"Bearer {token}"}
    assert site.browser.get("/auth/verify?room=shop", headers=bearer).status_code == 401
    assert site.browser.get("/userinfo", headers=bearer).status_code == 401
    ended = site.browser.post("/api/sessions/end", data={"token": token}, headers=fx.basic())
    assert ended.status_code == 400
    assert redeem(site, token).status_code == 302  # none of that spent it


# -- Redis outage ------------------------------------------------------------------------


def test_redis_outage_is_a_page_to_reload(site, tmp_path):
    token = handoff_token(wait(site))
    down = create_app(
        make_config(f"redis://127.0.0.1:{free_port()}/0", rooms(), keys_dir=str(tmp_path / "keys"))
    )
    client = down.test_client()
    for response in (
        client.get(f"/wait/shop?return_to={quote(PAGE)}"),
        client.get(f"/auth/handoff?wr_token={token}"),
    ):
        assert response.status_code == 503 and response.mimetype == "text/html"
        assert int(response.headers["Retry-After"]) > 0
        assert "Location" not in response.headers


# -- config ------------------------------------------------------------------------------

CONFIG_PROBLEMS = {
    "origin with a path": ({"return_origins": [f"{SITE}/"]}, "return_origins[0]"),
    "http origin": ({"return_origins": ["http://shop.example.com"]}, "return_origins[0]"),
    "not a list": ({"return_origins": SITE}, "return_origins"),
    "default off the origins": (
        {"return_origins": [SITE], "default_return_to": "https://evil.example.com/"},
        "default_return_to",
    ),
    "default without origins": ({"default_return_to": f"{SITE}/"}, "default_return_to"),
    "default with userinfo": (
        {"return_origins": [SITE], "default_return_to": f"https://u@{SITE[8:]}/"},
        "default_return_to",
    ),
    "cookie name": ({"handoff_cookie": "a;b"}, "handoff_cookie"),
    "cookie path": ({"handoff_cookie_path": "sale"}, "handoff_cookie_path"),
    "cookie path with ;": ({"handoff_cookie_path": "/a;Domain=evil"}, "handoff_cookie_path"),
}


@pytest.mark.parametrize("room, field", CONFIG_PROBLEMS.values(), ids=CONFIG_PROBLEMS.keys())
def test_config_problems_name_their_field(redis_server, room, field):
    with pytest.raises(ConfigError) as found:
        make_config(redis_server.url, {"shop": room})
    assert f"rooms.shop.{field}" in str(found.value)


# -- access log ---------------------------------------------------------------------------


def test_gunicorn_logs_through_the_scrubbing_logger():
    assert gunicorn_options("127.0.0.1:0", 1)["logger_class"] is ScrubbingLogger


def test_access_log_lines_never_hold_a_handoff_token():
    from gunicorn.config import Config

    token = "eyJhbGciOiJSUzI1NiJ9.eyJqdGkiOiJ4In0.c2ln"
    log = ScrubbingLogger(Config())
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/auth/handoff?a=1&wr_token={token}&b=2",
        "PATH_INFO": "/auth/handoff",
        "QUERY_STRING": f"a=1&wr_token={token}&b=2",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": f"{SITE}/p?wr_token={token}",
        "REMOTE_ADDR": "127.0.0.1",
    }
    response = SimpleNamespace(
        status="302 FOUND", sent=0, headers=[("Location", f"{PAGE}&wr_token={token}")]
    )
    request = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
    atoms = log.atoms(response, request, environ, timedelta(milliseconds=3))
    line = log.cfg.access_log_format % log.atoms_wrapper_class(atoms)
    assert token not in line and "wr_token=[scrubbed]&b=2" in line
    assert not [k for k, v in atoms.items() if isinstance(v, str) and token in v]
    assert atoms["{location}o"] == f"{PAGE}&wr_token=[scrubbed]"
    inside = scrub(f"/wait/shop?return_to={quote(PAGE + '&wr_token=' + token, safe='')}")
    assert token not in inside and inside.endswith("wr_token%3D[scrubbed]")
