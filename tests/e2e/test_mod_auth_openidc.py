"""Apache httpd + mod_auth_openidc in front of a page, our provider as its IdP.

Each test drives a browser stand-in from the protected URL through our
waiting room and back, and checks what mod_auth_openidc let through.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from .browser import Browser
from .proxy import ClientSwap
from .servers import Apache, Provider, require_apache, wait_until
from .tokens import kid_of, rotate, verify_id_token

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def _prerequisites() -> None:
    """Checked before any server starts: skip locally, fail under CI=true."""
    require_apache()


SECRET = "apache-secret+/0123456789abcdef"
HELD = {"mode": "queue_all", "admit_per_minute": 0}  # nobody in until the operator says so
OPEN = {"mode": "auto", "admit_per_minute": 600}  # room to spare: answered at once


def client(port: int, room: str = "shop", **extra) -> dict:
    return {
        "secret": SECRET,
        "redirect_uris": [f"http://localhost:{port}/protected/redirect_uri"],
        "room": room,
        "initiate_login_uri": f"http://localhost:{port}/protected/",
        "require_pkce": True,
        **extra,
    }


def site(e2e, room: dict, **apache_kw) -> tuple[Provider, Apache]:
    port = e2e.port()
    provider = e2e.provider({"shop": room}, {"apache": client(port)})
    return provider, e2e.apache(port, provider.metadata_url, "apache", SECRET, **apache_kw)


def protected(apache: Apache, response) -> dict[str, str]:
    values = apache.page_values(response)
    assert values is not None, (
        f"expected the protected page, got {response.status_code} at {response.url}:\n"
        f"{response.text[:500]}"
    )
    return values


def start_waiting(browser: Browser, apache: Apache):
    response = browser.get(apache.protected_url)
    page = browser.waiting_page(response)
    assert page is not None, f"expected our waiting page, got {response.url}"
    return response, page


def authorize_params(browser: Browser) -> dict[str, str]:
    """The query of the last /authorize request the browser made."""
    url = next(r.url for r in reversed(browser.trail) if urlsplit(r.url).path == "/authorize")
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_held_until_admitted_by_rate_in_arrival_order(e2e):
    provider, apache = site(e2e, HELD)
    first, second = e2e.browser(), e2e.browser()
    first_response, first_page = start_waiting(first, apache)
    second_response, second_page = start_waiting(second, apache)
    a, b = first.ticket(first_page), second.ticket(second_page)
    assert a["number"] < b["number"]
    assert (a["ahead"], b["ahead"]) == (0, 1)

    # 30 a minute: one admission every 2 s, from an empty bucket that holds one.
    provider.admin("PATCH", "/rooms/shop/settings", {"admit_per_minute": 30})

    def served(browser: Browser, page) -> dict | None:
        ticket = browser.ticket(page)
        return ticket if ticket["served"] else None

    a = wait_until(lambda: served(first, first_page), 20, "the first user's turn", interval=0.2)
    # The cursor moves in queue order, so at this instant nobody behind was served.
    assert a["now_serving"] == a["number"]
    b = wait_until(lambda: served(second, second_page), 20, "the second user's turn", 0.2)
    assert b["now_serving"] == b["number"]

    subs = {
        protected(apache, browser.finish(response))["sub"]
        for browser, response in ((first, first_response), (second, second_response))
    }
    assert len(subs) == 2, "each user has a subject of their own"


def test_admitted_by_operator_cli_then_admin_api(e2e):
    provider, apache = site(e2e, HELD)
    no_js, with_js = e2e.browser(js=False), e2e.browser()
    first_response, first_page = start_waiting(no_js, apache)
    second_response, second_page = start_waiting(with_js, apache)

    assert "admitted 1 of 1" in provider.cli("room", "admit", "shop", "1")
    assert no_js.ticket(first_page)["state"] == "served"
    assert with_js.ticket(second_page)["state"] == "waiting"
    # Without JavaScript the meta refresh re-requests /authorize and gets through.
    values = protected(apache, no_js.finish(first_response, deadline=30))
    assert values["aud"] == "apache" and values["room"] == "shop"
    assert with_js.ticket(second_page)["state"] == "waiting", "the second user is still held"

    assert provider.admin("POST", "/rooms/shop/admit", {"count": 1})["admitted"] == 1
    protected(apache, with_js.finish(second_response, deadline=30))


@pytest.mark.parametrize("auth", ["client_secret_basic", "client_secret_post"])
def test_pkce_nonce_and_token_endpoint_auth(e2e, auth):
    """Through a recording (not tampering) proxy: also the positive control
    for the negative tests below, which use the same proxy."""
    port = e2e.port()
    provider = e2e.provider({"shop": OPEN}, {"apache": client(port)})
    proxy = e2e.proxy(provider.url)
    apache = e2e.apache(port, proxy.metadata_url, "apache", SECRET, token_auth=auth)
    browser = e2e.browser()

    values = protected(apache, browser.open(apache.protected_url))

    sent = authorize_params(browser)
    assert sent["code_challenge_method"] == "S256" and sent["nonce"]
    [token_request] = proxy.token_requests
    assert token_request.form["code_verifier"]
    if auth == "client_secret_basic":
        assert token_request.basic_client == "apache"
        assert "client_secret" not in token_request.form
    else:
        assert token_request.basic_client is None
        assert token_request.form["client_id"] == "apache" and token_request.form["client_secret"]
    claims = verify_id_token(values["id_token"], provider.jwks(), provider.url, "apache")
    assert claims["nonce"] == sent["nonce"]
    assert claims["sub"] == values["sub"]


def test_stale_login_restarts_at_initiate_login_uri(e2e):
    """mod_auth_openidc forgets a pending login after OIDCStateTimeout; a user
    held longer than that must still end on the protected page."""
    fresh_port, control_port = e2e.port(), e2e.port()
    provider = e2e.provider(
        {"shop": HELD},
        {
            "apache": client(fresh_port, login_timeout=5),
            # Control: a login_timeout longer than the RP's state timeout.
            "apache-control": client(control_port, login_timeout=240),
        },
    )
    fresh = e2e.apache(fresh_port, provider.metadata_url, "apache", SECRET, state_timeout=5)
    control = e2e.apache(
        control_port, provider.metadata_url, "apache-control", SECRET, state_timeout=5
    )
    users = [(e2e.browser(), fresh), (e2e.browser(), control)]
    waiting = [(b, *start_waiting(b, rp)) for b, rp in users]
    started = time.monotonic()

    def past_both_timeouts() -> bool:
        for browser, _, page in waiting:
            assert browser.ticket(page)["state"] == "waiting"  # heartbeats, like the page
        return time.monotonic() - started > 6.5  # > 5 s, in whole seconds too

    wait_until(past_both_timeouts, 15, "both timeouts to pass", interval=0.5)
    assert provider.admin("POST", "/rooms/shop/admit", {"count": 2})["admitted"] == 2

    (fresh_browser, fresh_response, _), (control_browser, control_response, _) = waiting
    protected(fresh, fresh_browser.finish(fresh_response, deadline=30))
    restarts = [
        r
        for r in fresh_browser.trail
        if r.url.startswith(f"{provider.url}/authorize")
        and r.headers.get("Location") == fresh.protected_url
    ]
    assert restarts, "the provider sent the stale login back to initiate_login_uri"

    refused = control_browser.finish(control_response, deadline=30)
    assert control.page_values(refused) is None, "the control's stale state was accepted"
    assert "state has expired" in control.log_path.read_text()


def test_key_rotation_between_logins_and_during_a_wait(e2e):
    provider, apache = site(e2e, HELD)
    before_browser, after_browser = e2e.browser(), e2e.browser()

    first_response, _ = start_waiting(before_browser, apache)
    provider.admin("POST", "/rooms/shop/admit", {"count": 1})
    before = protected(apache, before_browser.finish(first_response, deadline=30))
    old_kid = kid_of(before["id_token"])

    second_response, second_page = start_waiting(after_browser, apache)
    new_kid = rotate(provider)
    assert new_kid != old_kid
    assert after_browser.ticket(second_page)["state"] == "waiting"
    provider.admin("POST", "/rooms/shop/admit", {"count": 1})
    after = protected(apache, after_browser.finish(second_response, deadline=30))
    assert kid_of(after["id_token"]) == new_kid

    jwks = provider.jwks()
    for values in (before, after):
        verify_id_token(values["id_token"], jwks, provider.url, "apache")
    # The session from before the rotation is still good at the RP.
    assert apache.page_values(before_browser.get(apache.protected_url)) is not None


def test_a_key_signing_before_it_was_published_is_fetched_by_its_kid(e2e):
    """mod_auth_openidc caches our JWKS (OIDCJWKSRefreshInterval 3600 here), yet
    an ID token naming a kid it has not seen makes it fetch the JWKS again: so a
    key that signs at once (an emergency rotation, or the first key of an
    algorithm, made at server start) does not fail its logins."""
    provider, apache = site(e2e, OPEN)
    before = protected(apache, e2e.browser().open(apache.protected_url))

    new_kid = rotate(provider, unpublished=True)
    after = protected(apache, e2e.browser().open(apache.protected_url))

    assert kid_of(before["id_token"]) != new_kid == kid_of(after["id_token"])
    assert "could not find a key in the cached JSON Web Keys" in apache.log_path.read_text()


@pytest.mark.parametrize("tamper", ["aud", "iss"])
def test_rp_refuses_wrong_audience_or_issuer(e2e, tamper):
    port = e2e.port()
    provider = e2e.provider(
        {"shop": OPEN},
        {"apache": client(port), "other": {**client(port), "secret": SECRET[::-1]}},
    )
    proxy = e2e.proxy(provider.url)
    if tamper == "aud":
        proxy.swap_client = ClientSwap(victim="apache", other="other", other_secret=SECRET[::-1])
    else:
        proxy.iss_override = proxy.url  # a mix-up: "this code came from another issuer"
    apache = e2e.apache(port, proxy.metadata_url, "apache", SECRET)
    browser = e2e.browser()

    response = browser.open(apache.protected_url)

    assert apache.page_values(response) is None, "the RP let a tampered login through"
    assert "OpenID Connect Provider error" in response.text, response.text[:2000]
    assert not apache.logged_in(browser.session), "a session was created anyway"
    log = apache.log_path.read_text()
    if tamper == "aud":
        assert proxy.token_requests, "the RP redeemed the code, then refused the ID token"
        assert '"aud"' in log, log[-2000:]
    else:
        assert not proxy.token_requests, "the RP refused before redeeming the code"
        assert "issuer" in log and proxy.url in log, log[-2000:]
