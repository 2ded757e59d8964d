"""node openid-client as a second relying party (tests/e2e/node/rp.mjs).

Its ALB-like mode is the one an AWS Application Load Balancer uses: no
nonce, no PKCE, client_secret_post, then userinfo, whose `sub` the ALB
forwards as the user's identity.
"""

from __future__ import annotations

import jwt
import pytest

from .proxy import ClientSwap, TamperingProxy
from .servers import NodeRp, Provider, require_node
from .tokens import kid_of, rotate, verify_id_token

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def _prerequisites() -> None:
    """Checked before any server starts: skip locally, fail under CI=true."""
    require_node()


SECRET = "node-secret+/0123456789abcdef"
HELD = {"mode": "queue_all", "admit_per_minute": 0}
OPEN = {"mode": "auto", "admit_per_minute": 600}


def client(port: int, **extra) -> dict:
    return {
        "secret": SECRET,
        "redirect_uris": [f"http://localhost:{port}/callback"],
        "room": "shop",
        "initiate_login_uri": f"http://localhost:{port}/protected",
        **extra,
    }


def logged_in(response) -> dict:
    assert response.status_code == 200 and "id_token" in response.text, (
        f"expected the RP's logged-in page, got {response.status_code} at {response.url}:\n"
        f"{response.text[:500]}"
    )
    return response.json()


def test_alb_style_login_held_in_queue(e2e):
    port = e2e.port()
    provider = e2e.provider({"shop": HELD}, {"alb": client(port)})
    rp = e2e.node_rp(
        port,
        provider.url,
        "alb",
        SECRET,
        token_auth="client_secret_post",
        nonce=False,
        pkce=False,
        userinfo=True,
    )
    browser = e2e.browser()
    response = browser.get(rp.protected_url)
    page = browser.waiting_page(response)
    assert page is not None and browser.ticket(page)["state"] == "waiting"

    assert provider.admin("POST", "/rooms/shop/admit", {"count": 1})["admitted"] == 1
    shown = logged_in(browser.finish(response, deadline=30))

    claims = shown["claims"]
    assert "nonce" not in claims
    assert claims["aud"] == "alb" and claims["iss"] == provider.url
    assert shown["userinfo"]["sub"] == claims["sub"]
    verify_id_token(shown["id_token"], provider.jwks(), provider.url, "alb")


def test_pkce_nonce_basic_and_key_rotation(e2e):
    """openid-client verifies signatures against the JWKS it cached at its first
    login; the next key was published in it, so a rotation breaks nothing."""
    port = e2e.port()
    provider = e2e.provider({"shop": OPEN}, {"spa": client(port, require_pkce=True)})
    rp = e2e.node_rp(port, provider.url, "spa", SECRET, token_auth="client_secret_basic")

    before = logged_in(e2e.browser().open(rp.protected_url))
    assert before["claims"]["nonce"]
    new_kid = rotate(provider)
    after = logged_in(e2e.browser().open(rp.protected_url))

    assert kid_of(before["id_token"]) != new_kid == kid_of(after["id_token"])
    jwks = provider.jwks()
    for shown in (before, after):
        verify_id_token(shown["id_token"], jwks, provider.url, "spa")
    assert before["claims"]["sub"] != after["claims"]["sub"]


def test_es256_id_tokens_for_a_client_registered_for_es256(e2e):
    """The provider starts on a store of RS256 keys only (as `keys generate` made
    before per-algorithm keys) and adds the ES256 keys itself; openid-client,
    registered for ES256, verifies the login. Control: an RP registered for ES256
    refuses the RS256 ID tokens of a client left at the default."""
    es_port, rs_port = e2e.port(), e2e.port()
    clients = {
        "es": client(es_port, id_token_signed_response_alg="ES256"),
        "rs": client(rs_port),
    }
    provider = e2e.provider({"shop": OPEN}, clients)
    es_rp = e2e.node_rp(es_port, provider.url, "es", SECRET, id_token_alg="ES256")

    shown = logged_in(e2e.browser().open(es_rp.protected_url))

    header = jwt.get_unverified_header(shown["id_token"])
    published = {k["kid"]: k for k in provider.jwks()["keys"]}
    assert header["alg"] == "ES256"
    assert (published[header["kid"]]["kty"], published[header["kid"]]["alg"]) == ("EC", "ES256")
    verify_id_token(shown["id_token"], provider.jwks(), provider.url, "es")

    wrong = e2e.node_rp(rs_port, provider.url, "rs", SECRET, id_token_alg="ES256")
    refused = e2e.browser().open(wrong.protected_url)
    assert refused.status_code == 401, refused.text
    assert 'unexpected JWT "alg"' in refused.json()["detail"], refused.text


def _through_proxy(e2e, tamper: str | None) -> tuple[Provider, NodeRp, TamperingProxy]:
    port = e2e.port()
    other_secret = SECRET[::-1]
    provider = e2e.provider(
        {"shop": OPEN}, {"alb": client(port), "other": client(port, secret=other_secret)}
    )
    proxy = e2e.proxy(provider.url)
    if tamper == "aud":
        proxy.swap_client = ClientSwap(victim="alb", other="other", other_secret=other_secret)
    elif tamper == "iss":
        proxy.iss_override = proxy.url
    rp = e2e.node_rp(
        port,
        provider.url,
        "alb",
        SECRET,
        nonce=False,
        pkce=False,
        userinfo=True,
        metadata_url=proxy.metadata_url,
    )
    return provider, rp, proxy


def test_login_through_the_untampered_proxy_succeeds(e2e):
    """Positive control for the two tests below: the proxy alone breaks nothing."""
    _, rp, proxy = _through_proxy(e2e, None)
    shown = logged_in(e2e.browser().open(rp.protected_url))
    assert shown["claims"]["aud"] == "alb"
    assert [r.form.get("client_id") for r in proxy.token_requests] == ["alb"]


@pytest.mark.parametrize(
    ("tamper", "complaint"),
    [("aud", 'unexpected JWT "aud"'), ("iss", 'unexpected "iss"')],
)
def test_rp_refuses_wrong_audience_or_issuer(e2e, tamper, complaint):
    _, rp, proxy = _through_proxy(e2e, tamper)
    browser = e2e.browser()
    response = browser.open(rp.protected_url)
    assert response.status_code == 401, response.text
    assert complaint in response.json()["detail"], response.text
    # aud is only seen in the ID token; a wrong iss is refused before the code is used.
    assert bool(proxy.token_requests) == (tamper == "aud")
    again = browser.session.get(rp.protected_url, allow_redirects=False, timeout=10)
    assert again.status_code == 302, "no session was created"
