"""The authorizer library: signature from the JWKS, claims, revocation, plug-ins.

Outbound JWKS fetches are mocked with requests-mock; the revocation check
runs against the real test Redis.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
import redis
import requests
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey, RSAKey
from werkzeug.test import Client

from oidc_adapter.authorizer import (
    Authorizer,
    AuthorizerMiddleware,
    Denied,
    JwksKeys,
    SessionCheck,
    Unavailable,
    api_audience,
    forward_auth_app,
)
from oidc_adapter.room.engine import RoomEngine
from oidc_adapter.room.settings import RoomSettings

from .helpers import free_port

ISSUER = "https://wait.example.com"
JWKS_URL = f"{ISSUER}/.well-known/jwks.json"
ROOM = "shop"
SID = "A" * 22


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Signer:
    """A test signing key and the tokens it makes."""

    def __init__(self, alg: str, kid: str):
        self.alg, self.kid = alg, kid
        if alg == "RS256":
            self.key = RSAKey.generate_key(2048, parameters={"kid": kid, "alg": alg, "use": "sig"})
        else:  # no "alg" member: the verifier must infer ES256 from the curve
            self.key = ECKey.generate_key("P-256", parameters={"kid": kid})

    def jwk(self) -> dict:
        return self.key.as_dict(private=False)

    def token(self, header: dict | None = None, **changes) -> str:
        head = {"alg": self.alg, "kid": self.kid, "typ": "at+jwt", **(header or {})}
        return jose_jwt.encode(head, claims(**changes), self.key, algorithms=[self.alg])


class Later(int):
    """A time relative to when the token is made, not to when tests were collected."""


def claims(**changes) -> dict:
    now = int(time.time())
    changes = {k: now + v if isinstance(v, Later) else v for k, v in changes.items()}
    out = {
        "iss": ISSUER,
        "sub": "subject-1",
        "aud": api_audience(ISSUER, ROOM),
        "client_id": f"room:{ROOM}",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "auth_time": now,
        "jti": "jti-1",
        "scope": "",
        "room": ROOM,
        "sid": SID,
    }
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None}


@pytest.fixture(scope="module")
def rsa():
    return Signer("RS256", "rsa-1")


@pytest.fixture(scope="module")
def rsa_next():
    return Signer("RS256", "rsa-2")


@pytest.fixture(scope="module")
def ec():
    return Signer("ES256", "ec-1")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def mono():
    return Clock()


def jwks(*signers: Signer) -> dict:
    return {"keys": [s.jwk() for s in signers]}


def make_authorizer(mono, **kwargs) -> Authorizer:
    keys = JwksKeys(JWKS_URL, lifespan=300, refetch_interval=30, max_stale=3600, clock=mono)
    return Authorizer(ISSUER, rooms=[ROOM], keys=keys, **kwargs)


# -- signatures and the JWKS cache ------------------------------------------


def test_rs256_and_es256_tokens_pass_with_one_jwks_fetch(requests_mock, rsa, ec, mono):
    requests_mock.get(JWKS_URL, json=jwks(rsa, ec))
    auth = make_authorizer(mono)
    for signer in (rsa, ec, rsa, ec):
        identity = auth.verify(signer.token())
        assert (identity.subject, identity.room, identity.session) == ("subject-1", ROOM, SID)
        assert identity.client_id == f"room:{ROOM}"
    assert requests_mock.call_count == 1


def test_rotation_to_a_new_kid_refetches_once(requests_mock, rsa, rsa_next, mono):
    requests_mock.get(JWKS_URL, [{"json": jwks(rsa)}, {"json": jwks(rsa, rsa_next)}])
    auth = make_authorizer(mono)
    auth.verify(rsa.token())
    mono.now += 31  # past the refetch interval, well within the cache lifespan
    assert auth.verify(rsa_next.token()).subject == "subject-1"
    assert auth.verify(rsa.token()).subject == "subject-1"
    assert requests_mock.call_count == 2


def test_unknown_kid_is_refused_and_refetches_at_most_once_per_interval(requests_mock, rsa, mono):
    forged = Signer("RS256", "made-up")
    requests_mock.get(JWKS_URL, json=jwks(rsa))
    auth = make_authorizer(mono)
    auth.verify(rsa.token())
    mono.now += 31
    for _ in range(5):
        with pytest.raises(Denied, match="unknown key"):
            auth.verify(forged.token())
    assert requests_mock.call_count == 2  # the first fetch + one refetch, not five
    mono.now += 31
    with pytest.raises(Denied, match="unknown key"):
        auth.verify(forged.token())
    assert requests_mock.call_count == 3


def test_jwks_down_keeps_serving_from_cache_until_max_stale(requests_mock, rsa, mono):
    requests_mock.get(JWKS_URL, json=jwks(rsa))
    auth = make_authorizer(mono)
    auth.verify(rsa.token())
    requests_mock.get(JWKS_URL, exc=requests.ConnectionError("refused"))
    mono.now += 301  # cache expired; the refetch fails
    assert auth.verify(rsa.token()).room == ROOM
    requests_mock.get(JWKS_URL, status_code=503, text="down")
    mono.now += 31
    assert auth.verify(rsa.token()).room == ROOM
    # Failed attempts are rate limited too: no request storm while it is down.
    calls = requests_mock.call_count
    for _ in range(5):
        auth.verify(rsa.token())
    assert requests_mock.call_count == calls
    mono.now += 3600
    with pytest.raises(Unavailable):
        auth.verify(rsa.token())


def test_jwks_never_reachable_is_unavailable_not_a_pass(requests_mock, rsa, mono):
    requests_mock.get(JWKS_URL, exc=requests.ConnectTimeout("timeout"))
    with pytest.raises(Unavailable) as caught:
        make_authorizer(mono).verify(rsa.token())
    assert caught.value.status == 503


def test_a_broken_jwks_document_keeps_the_previous_keys(requests_mock, rsa, mono):
    requests_mock.get(JWKS_URL, [{"json": jwks(rsa)}, {"text": "<html>oops</html>"}])
    auth = make_authorizer(mono)
    auth.verify(rsa.token())
    mono.now += 301
    assert auth.verify(rsa.token()).session == SID


# -- claims ------------------------------------------------------------------


@pytest.fixture
def auth(requests_mock, rsa, ec, mono):
    requests_mock.get(JWKS_URL, json=jwks(rsa, ec))
    return make_authorizer(mono)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"exp": Later(-60)}, "expired"),
        ({"nbf": Later(120)}, "not yet valid"),
        ({"aud": "https://other.example.com/api"}, "another audience"),
        ({"aud": api_audience(ISSUER, "other-room")}, "another audience"),
        ({"iss": "https://evil.example.com"}, "another issuer"),
        ({"room": "other-room"}, "another room"),
        ({"sid": None}, "sid"),
        ({"sub": None}, "sub"),
        ({"exp": None}, "exp"),
        ({"sid": "../../etc"}, "malformed"),
    ],
)
def test_bad_claims_are_refused(auth, rsa, changes, reason):
    with pytest.raises(Denied, match=reason) as caught:
        auth.verify(rsa.token(**changes))
    assert caught.value.status == 401 and caught.value.error == "invalid_token"


def test_small_clock_skew_is_tolerated(auth, rsa):
    assert auth.verify(rsa.token(exp=int(time.time()) - 3)).room == ROOM


def test_token_of_another_room_passes_only_where_that_room_is_accepted(requests_mock, rsa, mono):
    requests_mock.get(JWKS_URL, json=jwks(rsa))
    other = rsa.token(room="hall", aud=api_audience(ISSUER, "hall"))
    with pytest.raises(Denied):
        make_authorizer(mono).verify(other)
    both = Authorizer(ISSUER, rooms=[ROOM, "hall"], keys=JwksKeys(JWKS_URL, clock=mono))
    assert both.verify(other).room == "hall"


@pytest.mark.parametrize("typ", [None, "JWT", "jwt"])
def test_only_access_tokens_pass(auth, rsa, typ):
    header = {"typ": typ} if typ else {}
    token = rsa.token(header) if typ else _without_typ(rsa)
    with pytest.raises(Denied, match="at\\+jwt"):
        auth.verify(token)


def _without_typ(signer: Signer) -> str:
    return jose_jwt.encode(
        {"alg": signer.alg, "kid": signer.kid}, claims(), signer.key, [signer.alg]
    )


def test_application_at_jwt_type_is_accepted(auth, ec):
    assert auth.verify(ec.token({"typ": "application/at+jwt"})).room == ROOM


def _unsigned(header: dict, claims: dict, signature: bytes = b"") -> str:
    head = b64(json.dumps(header).encode())
    body = b64(json.dumps(claims).encode())
    return f"{head}.{body}.{b64(signature)}"


def test_alg_none_is_refused_before_any_key_lookup(requests_mock, rsa, mono):
    requests_mock.get(JWKS_URL, json=jwks(rsa))
    token = _unsigned({"alg": "none", "kid": rsa.kid, "typ": "at+jwt"}, claims())
    with pytest.raises(Denied, match="algorithm"):
        make_authorizer(mono).verify(token)
    assert requests_mock.call_count == 0


@pytest.mark.parametrize("secret_form", ["pem", "jwk-n"])
def test_hs256_signed_with_the_public_key_is_refused(auth, rsa, secret_form):
    """The classic confusion: HMAC keyed with the (public) RSA key material."""
    header = {"alg": "HS256", "kid": rsa.kid, "typ": "at+jwt"}
    head = b64(json.dumps(header).encode())
    body = b64(json.dumps(claims()).encode())
    secret = rsa.key.as_pem(private=False) if secret_form == "pem" else rsa.jwk()["n"].encode()
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(Denied, match="algorithm"):
        auth.verify(f"{head}.{body}.{b64(sig)}")


def test_alg_that_does_not_match_the_key_is_refused(auth, rsa, ec):
    # Header says ES256 but names the RSA key: never verify with a mismatched key.
    token = jose_jwt.encode(
        {"alg": "ES256", "kid": rsa.kid, "typ": "at+jwt"}, claims(), ec.key, ["ES256"]
    )
    with pytest.raises(Denied, match="does not match its key"):
        auth.verify(token)


def test_symmetric_keys_in_the_jwks_are_never_used(requests_mock, mono):
    secret = b"s" * 32
    oct_key = {"kty": "oct", "kid": "hmac", "k": b64(secret), "alg": "HS256"}
    requests_mock.get(JWKS_URL, json={"keys": [oct_key]})
    auth = Authorizer(ISSUER, rooms=[ROOM], keys=JwksKeys(JWKS_URL, clock=mono))
    header = {"alg": "HS256", "kid": "hmac", "typ": "at+jwt"}
    head, body = b64(json.dumps(header).encode()), b64(json.dumps(claims()).encode())
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(Denied):
        auth.verify(f"{head}.{body}.{b64(sig)}")


def test_tampered_payload_is_refused(auth, rsa):
    head, _, sig = rsa.token().split(".")
    body = b64(json.dumps(claims(sub="someone-else")).encode())
    with pytest.raises(Denied, match="Signature verification failed"):
        auth.verify(f"{head}.{body}.{sig}")


@pytest.mark.parametrize("token", [None, "", "garbage", "a.b.c", "x" * 9000])
def test_missing_or_malformed_tokens_are_refused(auth, token):
    with pytest.raises(Denied) as caught:
        auth.verify(token)
    assert caught.value.error == (None if not token else "invalid_token")


def test_explicit_audience_for_tokens_from_the_oidc_flow(requests_mock, rsa, mono):
    requests_mock.get(JWKS_URL, json=jwks(rsa))
    auth = Authorizer(ISSUER, "shop-alb", rooms=[ROOM], keys=JwksKeys(JWKS_URL, clock=mono))
    assert auth.verify(rsa.token(aud="shop-alb")).room == ROOM
    with pytest.raises(Denied, match="audience"):
        auth.verify(rsa.token())


# -- revocation against the real queue --------------------------------------


@pytest.fixture
def engine(redis_client, clock):
    engine = RoomEngine(redis_client, {ROOM: RoomSettings(admit_per_minute=600)}, clock)
    engine.sync_settings()
    return engine


def admitted_ticket(engine: RoomEngine) -> str:
    view = engine.take(ROOM)
    assert engine.claim(ROOM, view.ticket).state == "admitted"
    return view.ticket


def test_session_check_refuses_tokens_of_sessions_ended_early(
    requests_mock, rsa, mono, engine, redis_client, clock
):
    requests_mock.get(JWKS_URL, json=jwks(rsa))
    ticket = admitted_ticket(engine)
    sessions = SessionCheck.from_redis(redis_client, clock=clock)
    auth = make_authorizer(mono, sessions=sessions)
    assert auth.verify(rsa.token(sid=ticket)).session == ticket
    with pytest.raises(Denied, match="ended"):
        auth.verify(rsa.token(sid="B" * 22))  # no such ticket
    engine.finish(ROOM, ticket, "done")
    with pytest.raises(Denied, match="ended"):
        auth.verify(rsa.token(sid=ticket))


def test_session_check_never_writes_room_settings(redis_client, clock):
    # A room the queue never published: refused, and nothing appears in Redis.
    sessions = SessionCheck.from_redis(redis_client, clock=clock)
    assert sessions.is_admitted("ghost", SID) is False
    assert redis_client.keys("*ghost*") == []


def test_session_store_down_fails_closed_or_open_as_configured(requests_mock, rsa, mono):
    requests_mock.get(JWKS_URL, json=jwks(rsa))
    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.2, decode_responses=True)
    sessions = SessionCheck.from_redis(dead)
    with pytest.raises(Unavailable):
        make_authorizer(mono, sessions=sessions).verify(rsa.token())
    assert make_authorizer(mono, sessions=sessions, fail_open=True).verify(rsa.token())


# -- WSGI middleware and forward auth ---------------------------------------


def hello(environ, start_response):
    identity = environ.get("waiting_room.identity")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{environ.get('REMOTE_USER')}:{identity.room if identity else '-'}".encode()]


def test_middleware_gates_the_app(auth, rsa):
    client = Client(AuthorizerMiddleware(hello, auth, cookie_name="wr_at", exempt=["/healthz"]))
    refused = client.get("/orders")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="waiting-room"'
    assert refused.json["error"] == "invalid_token"
    bad = client.get("/orders", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["WWW-Authenticate"]
    ok = client.get("/orders", headers={"Authorization": f"Bearer {rsa.token()}"})
    assert ok.status_code == 200 and ok.text == f"subject-1:{ROOM}"
    client.set_cookie("wr_at", rsa.token())
    assert client.get("/orders").text == f"subject-1:{ROOM}"
    client.delete_cookie("wr_at")
    assert client.get("/healthz").text == "None:-"


def test_forward_auth_app_answers_with_identity_headers(auth, rsa):
    client = Client(forward_auth_app(auth))
    token = rsa.token()
    ok = client.get("/", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    assert ok.headers["X-Auth-Subject"] == "subject-1"
    assert ok.headers["X-Auth-Room"] == ROOM
    assert ok.headers["X-Auth-Session"] == SID
    assert ok.headers["Cache-Control"] == "no-store"
    denied = client.get("/", headers={"Authorization": f"Basic {token}"})
    assert denied.status_code == 401 and "X-Auth-Subject" not in denied.headers


def test_forward_auth_reports_unavailable_as_503(requests_mock, rsa, mono):
    requests_mock.get(JWKS_URL, status_code=500)
    client = Client(forward_auth_app(make_authorizer(mono)))
    response = client.get("/", headers={"Authorization": f"Bearer {rsa.token()}"})
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"


def test_authorizer_needs_an_audience_or_rooms():
    with pytest.raises(ValueError):
        Authorizer(ISSUER)
    with pytest.raises(ValueError):
        Authorizer(ISSUER, "aud", algorithms=["HS256"])
