"""A login through a real nginx terminating TLS on another address (127.0.0.2),
as behind an ALB: the adapter trusts that proxy's X-Forwarded-* headers, and
nobody else's."""

from __future__ import annotations

import base64
import http.client
import json
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from tests.e2e.nginx import Adapter, TlsProxy, nginx_binary, started_servers
from tests.e2e.servers import NodeRp, require_node
from tests.helpers import free_port, require

pytestmark = pytest.mark.e2e

ROOM = "shop"
CLIENT_ID = "shop-alb"
SECRET = "shop-alb-secret-0123456789"
REDIRECT = "https://shop.example.com/oauth2/idpresponse"
UNTRUSTED = "127.0.0.3"


NODE_PORT = free_port()
NODE_CALLBACK = f"http://localhost:{NODE_PORT}/callback"


@pytest.fixture
def deployment(tmp_path, redis_server, redis_client):
    require(nginx_binary() is not None, "nginx is not installed")
    rooms = {ROOM: {"admit_per_minute": 6000, "max_active": 0}}
    clients = {
        CLIENT_ID: {"secret": SECRET, "redirect_uris": [REDIRECT], "room": ROOM},
        "node": {"secret": SECRET, "redirect_uris": [NODE_CALLBACK], "room": ROOM},
    }
    with started_servers() as started:
        proxy = TlsProxy(tmp_path / "nginx")
        adapter = Adapter(tmp_path / "adapter", redis_server.url, rooms, clients)
        adapter.config.update(issuer=proxy.url, trusted_proxies=[f"{proxy.address}/32"])
        started.append(adapter.start())
        started.append(proxy.start(adapter.port))
        yield adapter, proxy


def basic() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()}


def test_a_whole_login_works_behind_the_tls_proxy(deployment):
    adapter, proxy = deployment
    browser = requests.Session()
    tls = {
        "verify": str(proxy.cert),
        "timeout": 10,
    }  # per request: env CA settings win over Session.verify
    doc = browser.get(f"{proxy.url}/.well-known/openid-configuration", **tls).json()
    assert doc["issuer"] == proxy.url and doc["token_endpoint"] == f"{proxy.url}/token"

    params = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT, "response_type": "code"}
    params.update(scope="openid", state="st-1", nonce="n-1")
    answer = browser.get(f"{proxy.url}/authorize", params=params, allow_redirects=False, **tls)
    assert answer.status_code == 302, answer.text
    got = {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()}
    assert got["iss"] == proxy.url and got["state"] == "st-1"
    cookie = next(c for c in browser.cookies if c.name == f"__Host-wr_{ROOM}")
    assert cookie.secure and cookie.path == "/"
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")

    data = {"grant_type": "authorization_code", "code": got["code"], "redirect_uri": REDIRECT}
    tokens = requests.post(f"{proxy.url}/token", data=data, headers=basic(), **tls)
    assert tokens.status_code == 200, tokens.text
    bearer = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
    info = requests.get(f"{proxy.url}/userinfo", headers=bearer, **tls)
    assert info.status_code == 200 and info.json()["room"] == ROOM


def test_forwarded_headers_from_an_untrusted_address_change_nothing(deployment):
    adapter, proxy = deployment
    # Straight to the adapter from another host, claiming to be behind TLS.
    connection = http.client.HTTPConnection(
        "127.0.0.1", adapter.port, timeout=10, source_address=(UNTRUSTED, 0)
    )
    body = urlencode({"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT})
    headers = {
        **basic(),
        "Host": "wait.internal",  # not loopback, where Authlib would let plain http pass
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": "198.51.100.7",
    }
    connection.request("POST", "/token", body=body, headers=headers)
    response = connection.getresponse()
    payload = json.loads(response.read())
    connection.close()
    # Plain http for an https issuer: refused as such, never a 500.
    assert response.status == 400 and payload["error"] == "invalid_request"
    assert "https" in payload["error_description"]


def test_a_real_relying_party_logs_in_through_the_tls_proxy(deployment, tmp_path, monkeypatch):
    """node openid-client, trusting the proxy's certificate, against the https issuer."""
    require_node()
    adapter, proxy = deployment
    rp = NodeRp(tmp_path / "node", NODE_PORT, proxy.url, "node", SECRET, userinfo=True)
    rp.env["NODE_EXTRA_CA_CERTS"] = str(proxy.cert)
    rp.start()
    try:
        # The browser follows the RP to the proxy: it must trust the same certificate.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(proxy.cert))
        page = requests.get(rp.protected_url, timeout=30)
        assert page.status_code == 200 and "id_token" in page.text, page.text[:500]
        shown = page.json()
        assert shown["claims"]["iss"] == proxy.url and shown["claims"]["aud"] == "node"
        assert shown["userinfo"]["sub"] == shown["claims"]["sub"]
    finally:
        rp.stop()
