"""The login of a served user, end to end in-process: /authorize, /token, /userinfo."""

from __future__ import annotations

import base64
import hashlib
import time

import pytest

from . import oidc_fixtures as fx
from .oidc_fixtures import (
    ISSUER,
    OTHER_SECRET,
    REDIRECT,
    SECRET,
    SESSION_SECONDS,
    basic,
    pkce_pair,
    query,
    redirect_base,
)

make_oidc, oidc = fx.make_oidc, fx.oidc  # fixtures


def at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def session_end(oidc, sid: str) -> int:
    engine = oidc.app.extensions["waiting_room"].engine
    return engine.status("shop", sid, heartbeat=False).session_expires_ms // 1000


# -- the happy path ----------------------------------------------------------


def test_authorize_redirects_with_code_state_and_iss(oidc):
    response = oidc.authorize(state="xyz-123")
    assert response.status_code == 302
    assert redirect_base(response) == REDIRECT
    got = query(response)
    assert set(got) == {"code", "state", "iss"}
    assert got["state"] == "xyz-123"
    assert got["iss"] == ISSUER
    assert len(got["code"]) >= 32
    assert response.headers["Cache-Control"] == "no-store"


def test_authorize_by_post_works_too(oidc):
    response = oidc.authorize(method="POST", state="posted")
    assert response.status_code == 302
    assert query(response)["state"] == "posted"
    assert "code" in query(response)


@pytest.mark.parametrize("auth", ["basic", "post"])
def test_token_response_id_token_and_access_token(oidc, auth):
    code, params = oidc.code()
    before = int(time.time())
    response = oidc.token(code, auth=auth)
    after = int(time.time())
    assert response.status_code == 200, response.json
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert body["token_type"] == "Bearer"
    assert SESSION_SECONDS - 2 <= body["expires_in"] <= SESSION_SECONDS
    assert "refresh_token" not in body

    id_token = oidc.decode(body["id_token"])  # signature checked against the JWKS
    claims = id_token.claims
    assert id_token.header["kid"]
    assert id_token.header["alg"] == "RS256"
    assert claims["iss"] == ISSUER
    assert claims["aud"] in ("alb", ["alb"])
    assert claims["sub"]
    assert claims["nonce"] == params["nonce"]
    assert before - 1 <= claims["iat"] <= after + 1
    assert before - 1 <= claims["auth_time"] <= claims["iat"]
    assert claims["exp"] == session_end(oidc, claims["sid"])
    assert claims["exp"] - claims["iat"] == pytest.approx(SESSION_SECONDS, abs=2)
    assert claims["at_hash"] == at_hash(body["access_token"])
    assert len(body["id_token"]) < 2048

    access = oidc.decode(body["access_token"])
    assert access.header["typ"] == "at+jwt"
    assert access.header["kid"]
    ac = access.claims
    for name in ("iss", "exp", "aud", "sub", "client_id", "iat", "jti"):
        assert name in ac, name  # RFC 9068 §2.2
    assert ac["iss"] == ISSUER
    assert ac["sub"] == claims["sub"]
    assert ac["client_id"] == "alb"
    assert ac["aud"] in ("alb", ["alb"])
    assert ac["exp"] == claims["exp"]
    assert ac["scope"] == "openid"


def test_issuer_is_the_same_in_discovery_redirect_and_every_token(make_oidc):
    oidc = make_oidc(issuer="https://wait.example.com")
    issuer = oidc.browser.get("/.well-known/openid-configuration").json["issuer"]
    code, _ = oidc.code()
    response = oidc.authorize()
    assert query(response)["iss"] == issuer
    tokens = oidc.token(code).json
    assert oidc.decode(tokens["id_token"]).claims["iss"] == issuer
    assert oidc.decode(tokens["access_token"]).claims["iss"] == issuer


def test_userinfo_get_post_and_form_body(oidc):
    tokens, _ = oidc.login()
    sub = oidc.decode(tokens["id_token"]).claims["sub"]
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    answers = [
        oidc.browser.get("/userinfo", headers=bearer),
        oidc.browser.post("/userinfo", headers=bearer),
        oidc.browser.post("/userinfo", data={"access_token": tokens["access_token"]}),
    ]
    for response in answers:
        assert response.status_code == 200, response.json
        assert response.json["sub"] == sub
        assert len(response.get_data()) < 1024
        assert response.headers["Cache-Control"] == "no-store"


def test_subject_is_stable_for_one_ticket_and_differs_between_browsers(oidc):
    first, _ = oidc.login()
    again, _ = oidc.login()  # same browser, same (admitted) ticket
    other = oidc.new_browser()
    code, _ = oidc.code(browser=other)
    third = oidc.token(code).json
    sub = [oidc.decode(t["id_token"]).claims["sub"] for t in (first, again, third)]
    assert sub[0] == sub[1] != sub[2]


def test_exchanging_the_code_starts_the_admitted_session(oidc):
    before = oidc.room()
    assert (before["active"], before["admitted_total"]) == (0, 0)
    code, _ = oidc.code()
    served = oidc.room()
    assert served["pending_claims"] == 1 and served["admitted_total"] == 0
    assert oidc.token(code).status_code == 200
    after = oidc.room()
    assert after["active"] == 1
    assert after["admitted_total"] == 1
    assert after["pending_claims"] == 0


# -- codes: single use, short-lived, bound to client and redirect URI ----------


def test_code_reuse_is_refused_and_revokes_the_first_tokens(oidc):
    code, _ = oidc.code()
    first = oidc.token(code)
    assert first.status_code == 200
    bearer = {"Authorization": f"Bearer {first.json['access_token']}"}
    assert oidc.browser.get("/userinfo", headers=bearer).status_code == 200

    again = oidc.token(code)
    assert again.status_code == 400
    assert again.json["error"] == "invalid_grant"
    revoked = oidc.browser.get("/userinfo", headers=bearer)
    assert revoked.status_code == 401
    assert revoked.json["error"] == "invalid_token"
    assert oidc.room()["active"] == 0


def test_code_lives_at_most_sixty_seconds_and_an_expired_one_is_refused(oidc):
    """Expiry is Redis's TTL: we check the TTL, then expire the key instead of sleeping."""
    code, _ = oidc.code()
    [key] = oidc.code_keys()
    assert 0 < oidc.redis.ttl(key) <= 60
    oidc.redis.pexpire(key, 1)
    deadline = time.monotonic() + 5
    while oidc.redis.exists(key) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert not oidc.redis.exists(key)
    response = oidc.token(code)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_grant"


def test_code_is_not_stored_in_clear(oidc):
    code, _ = oidc.code()
    [key] = oidc.code_keys()
    assert code not in key
    assert code not in oidc.redis.get(key)


def test_code_is_bound_to_its_client(oidc):
    code, _ = oidc.code()
    response = oidc.token(code, client_id="other", secret=OTHER_SECRET)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_grant"


def test_another_client_presenting_a_code_does_not_burn_it(oidc):
    code, _ = oidc.code()
    assert oidc.token(code, client_id="other", secret=OTHER_SECRET).status_code == 400
    assert oidc.token(code).status_code == 200


def test_a_failed_exchange_is_not_a_replay_and_revokes_nothing(oidc):
    """Only a code that produced tokens revokes its session when replayed."""
    verifier, challenge = pkce_pair()
    code, _ = oidc.code(code_challenge=challenge, code_challenge_method="S256")
    tickets_taken = oidc.room()["last_ticket"]
    wrong, _ = pkce_pair()
    assert oidc.token(code, code_verifier=wrong).json["error"] == "invalid_grant"
    retry = oidc.token(code, code_verifier=verifier)
    assert retry.status_code == 400
    assert retry.json["error"] == "invalid_grant"
    fresh, _ = oidc.code()
    assert oidc.token(fresh).status_code == 200
    assert oidc.room()["last_ticket"] == tickets_taken  # same ticket, never revoked


def test_code_is_bound_to_its_redirect_uri(oidc):
    code, _ = oidc.code(client_id="multi", redirect_uri="https://a.example.com/cb")
    response = oidc.token(
        code, client_id="multi", secret=OTHER_SECRET, redirect_uri="https://b.example.com/cb"
    )
    assert response.status_code == 400
    assert response.json["error"] == "invalid_grant"


def test_redirect_uri_missing_at_token_when_it_was_sent_is_refused(oidc):
    code, _ = oidc.code()
    response = oidc.token(code, redirect_uri=None)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_grant"


def test_redirect_uri_is_required_at_both_ends_even_for_a_single_uri_client(oidc):
    """OpenID Core §3.1.2.1 requires it at /authorize (it used to be optional for a
    one-URI client); then RFC 6749 §4.1.3 requires it at /token too."""
    refused = oidc.authorize(redirect_uri=None)
    assert refused.status_code == 400 and "Location" not in refused.headers
    assert oidc.room()["last_ticket"] == 0
    code, _ = oidc.code()
    response = oidc.token(code, redirect_uri=None)
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"


# -- client authentication at /token -----------------------------------------


@pytest.mark.parametrize("auth", ["basic", "post"])
def test_bad_client_secret_is_401_with_a_challenge_and_keeps_the_code(oidc, auth):
    code, _ = oidc.code()
    response = oidc.token(code, secret="wrong-secret-0123456789", auth=auth)
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"]
    assert oidc.token(code).status_code == 200


def test_unknown_client_is_401(oidc):
    code, _ = oidc.code()
    response = oidc.token(code, client_id="nobody", secret=SECRET)
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"


def test_no_client_authentication_is_401(oidc):
    code, _ = oidc.code()
    response = oidc.token(code, auth="none")
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"


def test_basic_and_post_credentials_together_are_invalid_request(oidc):
    code, _ = oidc.code()
    response = oidc.browser.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": "alb",
            "client_secret": SECRET,
        },
        headers=basic(),
    )
    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"
    assert oidc.token(code).status_code == 200  # refused without consuming the code


def test_basic_with_the_same_client_id_in_the_body_works(oidc):
    code, _ = oidc.code()
    response = oidc.browser.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": "alb",
        },
        headers=basic(),
    )
    assert response.status_code == 200, response.json


# -- /authorize parameters ------------------------------------------------------


def test_unknown_parameters_are_ignored(oidc):
    response = oidc.authorize(foo="bar", claims_locales="de", acr_values="x")
    assert response.status_code == 302
    assert "code" in query(response)


def test_scope_order_does_not_matter(oidc):
    tokens, _ = oidc.login(scope="profile openid")
    assert "id_token" in tokens
    assert set(tokens["scope"].split()) == {"openid", "profile"}


def test_state_is_echoed_and_nonce_goes_into_the_id_token(oidc):
    tokens, params = oidc.login(state="s-1.2_3~x", nonce="n-0S6_WzA2Mj")
    assert oidc.decode(tokens["id_token"]).claims["nonce"] == "n-0S6_WzA2Mj"
    assert query(oidc.authorize(state="s-1.2_3~x"))["state"] == "s-1.2_3~x"


def test_without_state_and_nonce_the_flow_still_works(oidc):
    response = oidc.authorize(state=None, nonce=None)
    got = query(response)
    assert "state" not in got and "code" in got
    tokens = oidc.token(got["code"]).json
    assert "nonce" not in oidc.decode(tokens["id_token"]).claims


def test_max_age_gives_a_recent_auth_time(oidc):
    tokens, _ = oidc.login(max_age="0")
    claims = oidc.decode(tokens["id_token"]).claims
    assert abs(claims["auth_time"] - time.time()) <= 5


def test_prompt_none_for_a_user_holding_a_served_turn_answers_with_a_code(oidc):
    oidc.code()  # this browser now holds a served ticket
    assert "code" in query(oidc.authorize(prompt="none"))


def test_prompt_none_never_puts_a_new_browser_in_line(oidc):
    """A silent check is answered only from a turn the browser already holds."""
    got = query(oidc.authorize(prompt="none", state="silent"))
    assert got["error"] == "login_required"
    assert got["state"] == "silent"
    assert oidc.room()["last_ticket"] == 0


# -- PKCE ---------------------------------------------------------------------------


def test_pkce_s256_works(oidc):
    verifier, challenge = pkce_pair()
    code, _ = oidc.code(code_challenge=challenge, code_challenge_method="S256")
    response = oidc.token(code, code_verifier=verifier)
    assert response.status_code == 200, response.json


def test_pkce_plain_is_refused_by_redirect(oidc):
    verifier, _ = pkce_pair()
    response = oidc.authorize(code_challenge=verifier, code_challenge_method="plain", state="p")
    assert response.status_code == 302
    got = query(response)
    assert got["error"] == "invalid_request"
    assert got["state"] == "p" and got["iss"] == ISSUER
    assert not oidc.code_keys()


def test_pkce_wrong_verifier_is_invalid_grant(oidc):
    _, challenge = pkce_pair()
    wrong, _ = pkce_pair()
    code, _ = oidc.code(code_challenge=challenge, code_challenge_method="S256")
    response = oidc.token(code, code_verifier=wrong)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_grant"


def test_pkce_missing_verifier_is_refused(oidc):
    _, challenge = pkce_pair()
    code, _ = oidc.code(code_challenge=challenge, code_challenge_method="S256")
    response = oidc.token(code)
    assert response.status_code == 400
    assert response.json["error"] in ("invalid_request", "invalid_grant")


def test_pkce_verifier_without_a_stored_challenge_is_refused(oidc):
    verifier, _ = pkce_pair()
    code, _ = oidc.code()
    response = oidc.token(code, code_verifier=verifier)
    assert response.status_code == 400
    assert response.json["error"] in ("invalid_request", "invalid_grant")


def test_require_pkce_client_without_challenge_gets_an_error_redirect(oidc):
    response = oidc.authorize(
        client_id="strict", redirect_uri="https://strict.example.com/cb", state="st"
    )
    assert response.status_code == 302
    assert redirect_base(response) == "https://strict.example.com/cb"
    got = query(response)
    assert got["error"] == "invalid_request"
    assert got["state"] == "st" and got["iss"] == ISSUER
    assert oidc.room()["last_ticket"] == 0


def test_require_pkce_client_with_challenge_logs_in(oidc):
    verifier, challenge = pkce_pair()
    code, _ = oidc.code(
        client_id="strict",
        redirect_uri="https://strict.example.com/cb",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    response = oidc.token(
        code,
        client_id="strict",
        secret=OTHER_SECRET,
        redirect_uri="https://strict.example.com/cb",
        code_verifier=verifier,
    )
    assert response.status_code == 200, response.json
