"""Bad input for every parameter of /authorize, /token and /userinfo.

Each gets the right OAuth error, never a 500 and never reflected markup, and
a refused /authorize stores nothing: no ticket taken, no code, no cookie.
"""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import pytest
from werkzeug.datastructures import MultiDict

from . import oidc_fixtures as fx
from .oidc_fixtures import (
    ISSUER,
    OTHER_SECRET,
    REDIRECT,
    SECRET,
    basic,
    pkce_pair,
    query,
    redirect_base,
)

make_oidc, oidc = fx.make_oidc, fx.oidc  # fixtures

BIG = "x" * 2100
SCRIPT = "<script>alert(1)</script>"
VERIFIER, CHALLENGE = pkce_pair()
MISSING = object()

BASE = {
    "client_id": "alb",
    "redirect_uri": REDIRECT,
    "response_type": "code",
    "scope": "openid",
    "state": "st-123",
    "nonce": "n-456",
}


def authorize_query(change: dict) -> str:
    """BASE with `change` applied: a value replaces, a list repeats, MISSING drops."""
    pairs: list[tuple[str, str]] = []
    for name, value in {**BASE, **change}.items():
        if value is MISSING:
            continue
        for one in value if isinstance(value, list) else [value]:
            pairs.append((name, one))
    return urlencode(pairs)


def assert_clean(oidc, response) -> None:
    body = response.get_data(as_text=True)
    assert response.status_code < 500, body
    assert SCRIPT not in body
    assert "<script" not in response.headers.get("Location", "")
    assert oidc.room()["last_ticket"] == 0
    assert not oidc.code_keys()
    assert not [c for c in response.headers.getlist("Set-Cookie") if c.startswith("wr_")]


# -- /authorize: problems with the client or redirect URI get our error page ------------

PAGE_CASES = {
    "client_id missing": {"client_id": MISSING},
    "client_id empty": {"client_id": ""},
    "client_id repeated": {"client_id": ["alb", "alb"]},
    "client_id oversized": {"client_id": BIG},
    "client_id unknown": {"client_id": "nobody"},
    "client_id malformed": {"client_id": "alb other"},
    "client_id script": {"client_id": SCRIPT},
    "redirect_uri repeated": {"redirect_uri": [REDIRECT, REDIRECT]},
    "redirect_uri oversized": {"redirect_uri": REDIRECT + "?" + BIG},
    "redirect_uri malformed": {"redirect_uri": "not a url"},
    "redirect_uri script": {"redirect_uri": SCRIPT},
    "redirect_uri script query": {"redirect_uri": REDIRECT + "?x=" + SCRIPT},
    "redirect_uri unregistered": {"redirect_uri": "https://evil.example.com/cb"},
    "redirect_uri other client's": {"redirect_uri": fx.OTHER_REDIRECT},
    "redirect_uri longer path": {"redirect_uri": REDIRECT + "/x"},
    "redirect_uri trailing slash": {"redirect_uri": REDIRECT + "/"},
    "redirect_uri extra query": {"redirect_uri": REDIRECT + "?a=1"},
    "redirect_uri fragment": {"redirect_uri": REDIRECT + "#f"},
    "redirect_uri http": {"redirect_uri": REDIRECT.replace("https:", "http:")},
    "redirect_uri upper host": {"redirect_uri": REDIRECT.replace("shop", "SHOP")},
    "redirect_uri missing, several registered": {
        "client_id": "multi",
        "redirect_uri": MISSING,
    },
    "redirect_uri of one client, client_id of another": {"client_id": "other"},
}


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("change", PAGE_CASES.values(), ids=PAGE_CASES.keys())
def test_authorize_bad_client_or_redirect_uri_is_an_error_page(oidc, change, method):
    qs = authorize_query(change)
    if method == "GET":
        response = oidc.browser.get("/authorize?" + qs)
    else:
        response = oidc.browser.post(
            "/authorize", data=qs, content_type="application/x-www-form-urlencoded"
        )
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "Location" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"
    assert_clean(oidc, response)


# -- /authorize: any other problem is sent back to the (verified) redirect URI ---------

REDIRECT_CASES = {
    "response_type missing": ({"response_type": MISSING}, "unsupported_response_type"),
    "response_type empty": ({"response_type": ""}, "unsupported_response_type"),
    "response_type repeated": ({"response_type": ["code", "code"]}, "invalid_request"),
    "response_type oversized": ({"response_type": BIG}, "invalid_request"),
    "response_type token": ({"response_type": "token"}, "unsupported_response_type"),
    "response_type hybrid": ({"response_type": "code id_token"}, "unsupported_response_type"),
    "response_type script": ({"response_type": SCRIPT}, "unsupported_response_type"),
    "scope missing": ({"scope": MISSING}, "invalid_scope"),
    "scope without openid": ({"scope": "profile email"}, "invalid_scope"),
    "scope repeated": ({"scope": ["openid", "openid"]}, "invalid_request"),
    "scope oversized": ({"scope": "openid " + BIG}, "invalid_request"),
    "scope script": ({"scope": SCRIPT}, "invalid_scope"),
    "state repeated": ({"state": ["a", "b"]}, "invalid_request"),
    "state oversized": ({"state": BIG}, "invalid_request"),
    "nonce repeated": ({"nonce": ["a", "b"]}, "invalid_request"),
    "nonce oversized": ({"nonce": BIG}, "invalid_request"),
    "code_challenge repeated": (
        {"code_challenge": [CHALLENGE, CHALLENGE], "code_challenge_method": "S256"},
        "invalid_request",
    ),
    "code_challenge oversized": (
        {"code_challenge": BIG, "code_challenge_method": "S256"},
        "invalid_request",
    ),
    "code_challenge malformed": (
        {"code_challenge": "too-short", "code_challenge_method": "S256"},
        "invalid_request",
    ),
    "code_challenge script": (
        {"code_challenge": SCRIPT, "code_challenge_method": "S256"},
        "invalid_request",
    ),
    "code_challenge without method": ({"code_challenge": CHALLENGE}, "invalid_request"),
    "code_challenge_method missing challenge": (
        {"code_challenge_method": "S256"},
        "invalid_request",
    ),
    "code_challenge_method repeated": (
        {"code_challenge": CHALLENGE, "code_challenge_method": ["S256", "S256"]},
        "invalid_request",
    ),
    "code_challenge_method plain": (
        {"code_challenge": CHALLENGE, "code_challenge_method": "plain"},
        "invalid_request",
    ),
    "code_challenge_method unknown": (
        {"code_challenge": CHALLENGE, "code_challenge_method": "S512"},
        "invalid_request",
    ),
    "code_challenge_method script": (
        {"code_challenge": CHALLENGE, "code_challenge_method": SCRIPT},
        "invalid_request",
    ),
    "prompt repeated": ({"prompt": ["login", "login"]}, "invalid_request"),
    "prompt oversized": ({"prompt": BIG}, "invalid_request"),
    "prompt none with login": ({"prompt": "none login"}, "invalid_request"),
    "max_age repeated": ({"max_age": ["1", "1"]}, "invalid_request"),
    "max_age oversized": ({"max_age": "1" * 2100}, "invalid_request"),
    "max_age malformed": ({"max_age": "abc"}, "invalid_request"),
    "max_age negative": ({"max_age": "-1"}, "invalid_request"),
    "max_age fraction": ({"max_age": "1.5"}, "invalid_request"),
    "max_age script": ({"max_age": SCRIPT}, "invalid_request"),
    "ui_locales repeated": ({"ui_locales": ["de", "fr"]}, "invalid_request"),
    "ui_locales oversized": ({"ui_locales": BIG}, "invalid_request"),
    "response_mode fragment": ({"response_mode": "fragment"}, "invalid_request"),
    "response_mode form_post": ({"response_mode": "form_post"}, "invalid_request"),
    "response_mode repeated": ({"response_mode": ["query", "query"]}, "invalid_request"),
    "request object": ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
    "request_uri": ({"request_uri": "https://rp.example.com/r"}, "request_uri_not_supported"),
}


@pytest.mark.parametrize("change, error", REDIRECT_CASES.values(), ids=REDIRECT_CASES.keys())
def test_authorize_bad_parameter_redirects_with_the_oauth_error(oidc, change, error):
    response = oidc.browser.get("/authorize?" + authorize_query(change))
    assert response.status_code == 302, response.get_data(as_text=True)
    assert redirect_base(response) == REDIRECT
    got = query(response)
    assert got["error"] == error
    assert got["iss"] == ISSUER
    assert "code" not in got
    if "state" in change:
        assert "state" not in got  # a repeated or oversized state is not echoed
    else:
        assert got["state"] == BASE["state"]
    assert response.headers["Cache-Control"] == "no-store"
    assert_clean(oidc, response)


def test_authorize_without_redirect_uri_is_our_page_even_for_a_single_uri_client(oidc):
    # OpenID Core §3.1.2.1: redirect_uri is required; without it nothing is verified
    # to redirect to, so the answer is our page (it used to fall back to the one URI).
    response = oidc.browser.get(
        "/authorize?" + authorize_query({"response_type": MISSING, "redirect_uri": MISSING})
    )
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert "Location" not in response.headers
    assert "redirect_uri" in response.get_data(as_text=True)
    assert_clean(oidc, response)


def test_script_in_state_and_nonce_is_carried_as_data_never_as_markup(oidc):
    response = oidc.browser.get("/authorize?" + authorize_query({"state": SCRIPT, "nonce": SCRIPT}))
    assert response.status_code == 302
    assert SCRIPT not in response.get_data(as_text=True)
    got = query(response)
    assert got["state"] == SCRIPT
    tokens = oidc.token(got["code"]).json
    assert oidc.decode(tokens["id_token"]).claims["nonce"] == SCRIPT


def test_script_in_state_while_waiting_is_escaped_on_the_page(make_oidc):
    oidc = make_oidc(rooms={"shop": {"admit_per_minute": 0}})
    for accept in ("text/html", "application/json"):
        response = oidc.browser.get(
            "/authorize?" + authorize_query({"state": SCRIPT, "nonce": SCRIPT}),
            headers={"Accept": accept},
        )
        assert response.status_code == 200
        assert SCRIPT not in response.get_data(as_text=True)


# -- /token -----------------------------------------------------------------------

TOKEN_CASES = {
    # name: (form change, headers or None for Basic alb, status, errors, code still usable)
    "grant_type missing": (
        {"grant_type": MISSING},
        None,
        400,
        {"invalid_request", "unsupported_grant_type"},
        True,
    ),
    "grant_type repeated": (
        {"grant_type": ["authorization_code"] * 2},
        None,
        400,
        {"invalid_request"},
        True,
    ),
    "grant_type oversized": ({"grant_type": BIG}, None, 400, {"unsupported_grant_type"}, True),
    "grant_type script": ({"grant_type": SCRIPT}, None, 400, {"unsupported_grant_type"}, True),
    "grant_type password": (
        {"grant_type": "password"},
        None,
        400,
        {"unsupported_grant_type"},
        True,
    ),
    "grant_type refresh_token": (
        {"grant_type": "refresh_token"},
        None,
        400,
        {"unsupported_grant_type"},
        True,
    ),
    "code missing": ({"code": MISSING}, None, 400, {"invalid_request"}, True),
    "code repeated": ({"code": "SAME-TWICE"}, None, 400, {"invalid_request"}, True),
    "code oversized": ({"code": BIG}, None, 400, {"invalid_grant"}, True),
    "code malformed": ({"code": "not-a-code"}, None, 400, {"invalid_grant"}, True),
    "code script": ({"code": SCRIPT}, None, 400, {"invalid_grant"}, True),
    "redirect_uri missing": ({"redirect_uri": MISSING}, None, 400, {"invalid_grant"}, False),
    "redirect_uri repeated": (
        {"redirect_uri": [REDIRECT, REDIRECT]},
        None,
        400,
        {"invalid_request"},
        True,
    ),
    "redirect_uri oversized": (
        {"redirect_uri": REDIRECT + "?" + BIG},
        None,
        400,
        {"invalid_grant"},
        False,
    ),
    "redirect_uri script": ({"redirect_uri": SCRIPT}, None, 400, {"invalid_grant"}, False),
    "code_verifier without challenge": (
        {"code_verifier": VERIFIER},
        None,
        400,
        {"invalid_request", "invalid_grant"},
        False,
    ),
    "code_verifier repeated": (
        {"code_verifier": [VERIFIER, VERIFIER]},
        None,
        400,
        {"invalid_request"},
        True,
    ),
    "code_verifier oversized": (
        {"code_verifier": BIG},
        None,
        400,
        {"invalid_request", "invalid_grant"},
        False,
    ),
    "code_verifier script": (
        {"code_verifier": SCRIPT},
        None,
        400,
        {"invalid_request", "invalid_grant"},
        False,
    ),
    "client_id post repeated": (
        {"client_id": ["alb", "alb"], "client_secret": SECRET},
        {},
        400,
        {"invalid_request"},
        True,
    ),
    "client_secret post repeated": (
        {"client_id": "alb", "client_secret": [SECRET, SECRET]},
        {},
        400,
        {"invalid_request"},
        True,
    ),
    "client_id post oversized": (
        {"client_id": BIG, "client_secret": SECRET},
        {},
        (400, 401),
        {"invalid_client"},
        True,
    ),
    "client_id post script": (
        {"client_id": SCRIPT, "client_secret": SECRET},
        {},
        (400, 401),
        {"invalid_client"},
        True,
    ),
    "client_secret post missing": ({"client_id": "alb"}, {}, 401, {"invalid_client"}, True),
    "client_secret post oversized": (
        {"client_id": "alb", "client_secret": BIG},
        {},
        401,
        {"invalid_client"},
        True,
    ),
    "client_secret post script": (
        {"client_id": "alb", "client_secret": SCRIPT},
        {},
        401,
        {"invalid_client"},
        True,
    ),
    "client_secret of another client": (
        {"client_id": "alb", "client_secret": OTHER_SECRET},
        {},
        401,
        {"invalid_client"},
        True,
    ),
    "basic not base64": ({}, {"Authorization": "Basic %%%"}, 401, {"invalid_client"}, True),
    "basic without colon": (
        {},
        {"Authorization": "Basic " + base64.b64encode(b"alb").decode()},
        401,
        {"invalid_client"},
        True,
    ),
    "basic not utf-8": (
        {},
        {"Authorization": "Basic " + base64.b64encode(b"alb:\xff\xfe").decode()},
        401,
        {"invalid_client"},
        True,
    ),
    "basic empty": ({}, {"Authorization": "Basic "}, 401, {"invalid_client"}, True),
    "basic script client": ({}, basic(SCRIPT, SECRET), 401, {"invalid_client"}, True),
    "basic oversized secret": ({}, basic("alb", BIG), 401, {"invalid_client"}, True),
    "basic and a different client_id in the body": (
        {"client_id": "other"},
        None,
        400,
        {"invalid_request"},
        True,
    ),
}


def token_form(code: str, change: dict) -> MultiDict:
    base = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    form = MultiDict()
    for name, value in {**base, **change}.items():
        if value is MISSING:
            continue
        if value == "SAME-TWICE":
            value = [code, code]
        for one in value if isinstance(value, list) else [value]:
            form.add(name, one)
    return form


@pytest.mark.parametrize(
    "change, headers, status, errors, survives", TOKEN_CASES.values(), ids=TOKEN_CASES.keys()
)
def test_token_bad_input(oidc, change, headers, status, errors, survives):
    code, _ = oidc.code()
    response = oidc.browser.post(
        "/token", data=token_form(code, change), headers=basic() if headers is None else headers
    )
    body = response.get_data(as_text=True)
    assert response.status_code in (status if isinstance(status, tuple) else (status,)), body
    assert response.json["error"] in errors
    assert SCRIPT not in body
    assert response.headers["Cache-Control"] == "no-store"
    if response.status_code == 401:
        assert response.headers["WWW-Authenticate"].startswith("Basic")

    retry = oidc.token(code)
    if survives:
        assert retry.status_code == 200, retry.json
    else:
        assert retry.status_code == 400 and retry.json["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "kwargs, status",
    [
        ({"json": {"grant_type": "authorization_code"}}, 400),
        ({"data": {"grant_type": "authorization_code", "pad": "x" * 20_000}}, 413),
        ({"data": "\xff\xfe=\x00", "content_type": "application/x-www-form-urlencoded"}, 400),
    ],
    ids=["json body", "oversized body", "garbage body"],
)
def test_token_bad_body_is_refused_cleanly(oidc, kwargs, status):
    response = oidc.browser.post("/token", headers=basic(), **kwargs)
    assert response.status_code == status
    assert response.json["error"]


def test_token_by_get_is_405(oidc):
    code, _ = oidc.code()
    response = oidc.browser.get(
        "/token",
        query_string={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        headers=basic(),
    )
    assert response.status_code == 405
    assert oidc.token(code).status_code == 200


# -- /userinfo ----------------------------------------------------------------------


@pytest.fixture
def tokens(oidc):
    return oidc.login()[0]


def test_userinfo_without_a_token_is_a_bare_challenge(oidc):
    response = oidc.browser.get("/userinfo")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="userinfo"'


USERINFO_CASES = {
    "bearer empty": ({"headers": {"Authorization": "Bearer "}}, 401, "invalid_token"),
    "bearer malformed": ({"headers": {"Authorization": "Bearer a.b.c"}}, 401, "invalid_token"),
    "bearer script": ({"headers": {"Authorization": "Bearer " + SCRIPT}}, 401, "invalid_token"),
    "bearer oversized": ({"headers": {"Authorization": "Bearer " + BIG}}, 401, "invalid_token"),
    "basic scheme": ({"headers": basic()}, 401, "invalid_token"),
    "token in the query": ({"query_string": {"access_token": "TOKEN"}}, 400, "invalid_request"),
    "form token repeated": (
        {"method": "POST", "data": MultiDict([("access_token", "TOKEN")] * 2)},
        400,
        "invalid_request",
    ),
    "form and header": (
        {
            "method": "POST",
            "data": {"access_token": "TOKEN"},
            "headers": {"Authorization": "Bearer TOKEN"},
        },
        400,
        "invalid_request",
    ),
    "form token script": (
        {"method": "POST", "data": {"access_token": SCRIPT}},
        401,
        "invalid_token",
    ),
    "form token oversized": (
        {"method": "POST", "data": {"access_token": BIG}},
        401,
        "invalid_token",
    ),
    "tampered signature": (
        {"headers": {"Authorization": "Bearer TAMPERED"}},
        401,
        "invalid_token",
    ),
    "id token instead of access token": (
        {"headers": {"Authorization": "Bearer ID_TOKEN"}},
        401,
        "invalid_token",
    ),
}


def _fill(value, tokens):
    """Put the real tokens where a case names them."""
    if isinstance(value, str):
        names = {
            "TOKEN": tokens["access_token"],
            "ID_TOKEN": tokens["id_token"],
            "TAMPERED": tokens["access_token"][:-6] + "AAAAAA",
        }
        return " ".join(names.get(word, word) for word in value.split(" "))
    if isinstance(value, MultiDict):
        return MultiDict([(k, _fill(v, tokens)) for k, v in value.items(multi=True)])
    if isinstance(value, dict):
        return {k: _fill(v, tokens) for k, v in value.items()}
    return value


@pytest.mark.parametrize(
    "kwargs, status, error", USERINFO_CASES.values(), ids=USERINFO_CASES.keys()
)
def test_userinfo_bad_input(oidc, tokens, kwargs, status, error):
    kwargs = _fill(dict(kwargs), tokens)
    response = oidc.browser.open("/userinfo", method=kwargs.pop("method", "GET"), **kwargs)
    body = response.get_data(as_text=True)
    assert response.status_code == status, body
    assert response.json["error"] == error
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert SCRIPT not in body
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert oidc.browser.get("/userinfo", headers=bearer).status_code == 200
