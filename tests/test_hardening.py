"""Findings of the outside security review (issue 10), one test each: trusted
proxies, Redis refusing writes, headers, protocol conformance, code replays."""

from __future__ import annotations

import threading

import pytest

from oidc_adapter.app import create_app
from oidc_adapter.config import ConfigError, parse_config
from oidc_adapter.web.proxies import TrustedProxies

from . import oidc_fixtures as fx
from .conftest import ADMIN_TOKEN, make_config
from .helpers import RedisServer
from .oidc_fixtures import REDIRECT, basic, query
from .test_api_errors import assert_json_error

make_oidc, oidc = fx.make_oidc, fx.oidc  # fixtures

HTTPS_ISSUER = "https://wait.example.com"

# -- trusted proxies ---------------------------------------------------------------


def seen_by_app(trusted: list[str], peer: str, headers: dict[str, str]) -> dict[str, str]:
    """What the app behind the middleware sees of a request from `peer`."""
    from ipaddress import ip_network

    seen: dict[str, str] = {}

    def app(environ, start_response):
        seen.update(
            scheme=environ["wsgi.url_scheme"],
            host=environ.get("HTTP_HOST", ""),
            client=environ["REMOTE_ADDR"],
        )
        return []

    environ = {"REMOTE_ADDR": peer, "wsgi.url_scheme": "http", "HTTP_HOST": "backend:8000"}
    environ.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})
    TrustedProxies(app, [ip_network(n) for n in trusted])(environ, lambda *a: None)
    return seen


FORWARDED = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "wait.example.com",
    "X-Forwarded-For": "203.0.113.9, 10.0.3.4",
}


def test_headers_from_an_untrusted_peer_change_nothing():
    seen = seen_by_app(["10.0.0.0/16"], "198.51.100.7", FORWARDED)
    assert seen == {"scheme": "http", "host": "backend:8000", "client": "198.51.100.7"}


def test_a_trusted_proxy_sets_scheme_host_and_the_client_behind_the_chain():
    # 10.0.3.4 is an inner proxy (trusted), so the client is the hop before it.
    seen = seen_by_app(["10.0.0.0/16"], "10.0.1.1", FORWARDED)
    assert seen == {"scheme": "https", "host": "wait.example.com", "client": "203.0.113.9"}


@pytest.mark.parametrize(
    ("forwarded_for", "client"),
    [
        ("6.6.6.6, 203.0.113.9", "203.0.113.9"),  # a client-sent hop is not believed
        ("not-an-ip, 10.0.3.4", "10.0.3.4"),  # garbage stops the walk at the last good hop
        ("", "10.0.1.1"),
        ("[2001:db8::1]", "2001:db8::1"),
    ],
)
def test_the_client_is_the_first_untrusted_hop_from_the_right(forwarded_for, client):
    seen = seen_by_app(["10.0.0.0/16"], "10.0.1.1", {"X-Forwarded-For": forwarded_for})
    assert seen["client"] == client


def test_an_unknown_scheme_is_ignored():
    seen = seen_by_app(["127.0.0.0/8"], "127.0.0.1", {"X-Forwarded-Proto": "javascript"})
    assert seen["scheme"] == "http"


def test_trusted_proxies_default_to_loopback_and_come_from_the_environment():
    cfg = parse_config({"rooms": {"shop": {}}}, env={})
    assert [str(n) for n in cfg.trusted_proxies] == ["127.0.0.1/32", "::1/128"]
    env = {"OIDC_ADAPTER_TRUSTED_PROXIES": "10.0.0.0/16, 2001:db8::/32"}
    cfg = parse_config({"rooms": {"shop": {}}}, env=env)
    assert [str(n) for n in cfg.trusted_proxies] == ["10.0.0.0/16", "2001:db8::/32"]
    with pytest.raises(ConfigError) as caught:
        parse_config({"rooms": {"shop": {}}, "trusted_proxies": ["10.0.0.1/16"]}, env={})
    assert [f for f, _ in caught.value.problems] == ["trusted_proxies[0]"]


def test_token_over_plain_http_for_an_https_issuer_is_400_not_500(make_oidc):
    oidc = make_oidc(issuer=HTTPS_ISSUER)
    response = oidc.browser.post(
        "/token",
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT},
        headers={**basic(), "X-Forwarded-Proto": "https"},
        environ_base={"REMOTE_ADDR": "127.0.0.2"},  # not a trusted proxy
        base_url="http://backend.internal",  # Authlib lets plain http pass on localhost
    )
    assert_json_error(response, 400, "invalid_request")


def test_login_through_a_trusted_proxy_with_an_https_issuer(make_oidc):
    oidc = make_oidc(issuer=HTTPS_ISSUER, trusted_proxies=["127.0.0.2/32"])
    proxy = {"environ_base": {"REMOTE_ADDR": "127.0.0.2"}}
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
    params = oidc.authorize_params()
    answer = oidc.browser.get("/authorize", query_string=params, headers=forwarded, **proxy)
    code = query(answer)["code"]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    token = oidc.browser.post("/token", data=data, headers={**basic(), **forwarded}, **proxy)
    assert token.status_code == 200, token.json
    assert token.headers["Strict-Transport-Security"].startswith("max-age=")


# -- Redis that refuses writes ----------------------------------------------------


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


def refusing_app(own_redis, tmp_path, command: list[str]):
    from .oidc_fixtures import default_clients

    config = make_config(own_redis.url, clients=default_clients(), keys_dir=str(tmp_path / "k"))
    from oidc_adapter.keys import KeyStore

    KeyStore(tmp_path / "k").ensure()
    app = create_app(config)
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    ticket = client.post("/api/rooms/shop/tickets").json["ticket"]
    own_redis.client().execute_command(*command)
    return client, ticket


@pytest.mark.parametrize(
    "command",
    [["CONFIG", "SET", "maxmemory", "1"], ["REPLICAOF", "127.0.0.1", "1"]],
    ids=["out of memory", "read-only replica"],
)
def test_redis_refusing_writes_is_503_with_retry_after_and_not_ready(own_redis, tmp_path, command):
    client, ticket = refusing_app(own_redis, tmp_path, command)
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    for response in (
        client.post("/api/rooms/shop/tickets"),
        client.get(f"/api/rooms/shop/tickets/{ticket}"),
        client.post("/admin/rooms/shop/admit", json={"count": 1}, headers=admin),
    ):
        assert_json_error(response, 503, "temporarily_unavailable")
        assert int(response.headers["Retry-After"]) > 0
    page = client.get("/authorize", query_string=login_params())
    assert page.status_code == 503 and page.mimetype == "text/html"
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json["checks"]["redis"] is False


def login_params() -> dict[str, str]:
    return {
        "client_id": "alb",
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "openid",
        "state": "s",
    }


# -- headers ----------------------------------------------------------------------


def test_every_response_is_nosniff_and_hsts_follows_the_issuer(make_oidc):
    oidc = make_oidc(issuer=HTTPS_ISSUER)
    paths = [
        "/.well-known/openid-configuration",
        "/api/rooms/shop",
        "/api/nothing-here",
        "/admin/rooms",
        "/healthz",
        "/static/waiting/waiting.js",
        "/authorize",
    ]
    for path in paths:
        response = oidc.browser.get(path)
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000", path
    plain = make_oidc().browser.get("/healthz")
    assert "Strict-Transport-Security" not in plain.headers
    off = make_oidc(issuer=HTTPS_ISSUER, hsts_max_age=0).browser.get("/healthz")
    assert "Strict-Transport-Security" not in off.headers


def test_forward_auth_can_be_made_to_require_its_room(make_oidc):
    strict = make_oidc(verify_any_room=False)
    assert_json_error(strict.browser.get("/auth/verify"), 400, "invalid_request")
    assert strict.browser.get("/auth/verify?room=shop").status_code == 401  # no token
    assert make_oidc().browser.get("/auth/verify").status_code == 401


# -- protocol conformance ----------------------------------------------------------


def test_discovery_promises_no_profile_scope_and_no_unsigned_userinfo(oidc):
    doc = oidc.browser.get("/.well-known/openid-configuration").json
    assert doc["scopes_supported"] == ["openid"]
    assert "userinfo_signing_alg_values_supported" not in doc


def test_error_texts_carry_no_echo_and_no_python_repr(oidc):
    params = {**login_params(), "response_type": 'code id_token"\\'}
    got = query(oidc.browser.get("/authorize", query_string=params))
    assert got["error"] == "unsupported_response_type"
    assert "id_token" not in got["error_description"]
    code = query(oidc.browser.get("/authorize", query_string=login_params()))["code"]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    refused = oidc.browser.post("/token", data=data, headers=basic("alb", "wrong-secret-01234"))
    assert refused.status_code == 401
    assert "[" not in refused.json["error_description"]
    assert refused.headers["WWW-Authenticate"] == 'Basic realm="token", error="invalid_client"'


# -- a code used twice at once --------------------------------------------------------


def race(oidc, data: dict[str, str], runners: int = 4) -> list:
    """`runners` token requests with the same body, released at the same instant."""
    start = threading.Barrier(runners)
    results: list = []

    def exchange() -> None:
        client = oidc.new_browser()
        start.wait()
        results.append(client.post("/token", data=data, headers=basic()))

    threads = [threading.Thread(target=exchange) for _ in range(runners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_a_code_raced_by_four_requests_leaves_no_valid_tokens(oidc):
    for _ in range(30):
        code = query(oidc.new_browser().get("/authorize", query_string=login_params()))["code"]
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
        results = race(oidc, data)
        won = [r for r in results if r.status_code == 200]
        assert len(won) <= 1 and len(results) == 4
        for response in won:
            bearer = {"Authorization": f"Bearer {response.json['access_token']}"}
            assert oidc.browser.get("/userinfo", headers=bearer).status_code == 401
