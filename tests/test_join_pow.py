"""Proof of work at join, on the JSON take and on /authorize (real Redis)."""

from __future__ import annotations

import re
from html import unescape
from itertools import count
from urllib.parse import urlencode

import pytest

from oidc_adapter.web import join_cost

from . import oidc_fixtures as fx
from .helpers import doc_block, served
from .join_support import solve
from .oidc_fixtures import admin, default_rooms

BITS = 8
make_oidc, oidc = fx.make_oidc, fx.oidc  # fixtures


@pytest.fixture
def pow_oidc(make_oidc):
    rooms = default_rooms()
    rooms["shop"].update(join_cost="pow", pow_bits=BITS)
    return make_oidc(rooms=rooms)


def _take(oidc, **body):
    return oidc.browser.post("/api/rooms/shop/tickets", json=body)


def _challenge(oidc) -> dict:
    refused = _take(oidc)
    assert refused.status_code == 401
    return refused.json


def test_take_without_a_solution_is_401_with_a_challenge_and_takes_nothing(pow_oidc):
    before = pow_oidc.room()
    refused = _take(pow_oidc)
    assert refused.status_code == 401
    body = refused.json
    assert body["error"] == "pow_required"
    assert body["bits"] == BITS and body["expires_in"] == join_cost.CHALLENGE_SECONDS
    assert body["challenge"].startswith("v1.shop.")
    assert refused.headers["WWW-Authenticate"].startswith("ProofOfWork")
    assert pow_oidc.room() == before


def test_a_solved_challenge_takes_a_ticket_once(pow_oidc):
    challenge = _challenge(pow_oidc)["challenge"]
    counter = solve(challenge, BITS)
    taken = _take(pow_oidc, pow_challenge=challenge, pow_counter=counter)
    assert taken.status_code == 201, taken.json
    assert taken.json["ticket_secret"]
    replay = _take(pow_oidc, pow_challenge=challenge, pow_counter=counter)
    assert replay.status_code == 401
    assert "already used" in replay.json["error_description"]
    assert replay.json["challenge"] != challenge


def _not_solving(challenge: str) -> str:
    return next(str(n) for n in count() if not join_cost.solves(challenge, str(n), BITS))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c, n: (c, _not_solving(c)),
        lambda c, n: (c.replace("v1.shop.", "v1.other."), n),  # another room's
        lambda c, n: (c[:-1] + ("0" if c[-1] != "0" else "1"), n),  # forged signature
        lambda c, n: (c, "-1"),
        lambda c, n: (c, "1" * 40),
        lambda c, n: (["not", "text"], n),
    ],
)
def test_a_wrong_or_forged_solution_is_refused(pow_oidc, tamper):
    challenge = _challenge(pow_oidc)["challenge"]
    bad_challenge, bad_counter = tamper(challenge, solve(challenge, BITS))
    refused = _take(pow_oidc, pow_challenge=bad_challenge, pow_counter=bad_counter)
    assert refused.status_code == 401
    assert refused.json["error"] == "pow_required"


def test_an_expired_challenge_is_refused(pow_oidc, clock):
    challenge = _challenge(pow_oidc)["challenge"]
    counter = solve(challenge, BITS)
    clock.advance(join_cost.CHALLENGE_SECONDS + 1)
    refused = _take(pow_oidc, pow_challenge=challenge, pow_counter=counter)
    assert refused.status_code == 401 and "expired" in refused.json["error_description"]


def test_a_challenge_easier_than_the_room_now_asks_is_refused(pow_oidc):
    challenge = _challenge(pow_oidc)["challenge"]
    counter = solve(challenge, BITS)
    raised = pow_oidc.browser.patch(
        "/admin/rooms/shop/settings", json={"pow_bits": BITS + 4}, headers=admin()
    )
    assert raised.status_code == 200
    refused = _take(pow_oidc, pow_challenge=challenge, pow_counter=counter)
    assert refused.status_code == 401 and refused.json["bits"] == BITS + 4


def test_a_held_live_ticket_comes_back_without_a_new_proof(pow_oidc):
    challenge = _challenge(pow_oidc)["challenge"]
    taken = _take(pow_oidc, pow_challenge=challenge, pow_counter=solve(challenge, BITS))
    again = _take(pow_oidc, ticket=taken.json["ticket"])
    assert again.status_code == 200 and again.json["ticket"] == taken.json["ticket"]


def test_join_cost_is_live_through_the_admin_api(oidc):
    assert _take(oidc).status_code == 201
    changed = oidc.browser.patch(
        "/admin/rooms/shop/settings", json={"join_cost": "pow", "pow_bits": 4}, headers=admin()
    )
    assert changed.status_code == 200
    assert changed.json["overrides"]["join_cost"] == "pow"
    assert _take(oidc).status_code == 401
    oidc.browser.patch("/admin/rooms/shop/settings", json={"join_cost": None}, headers=admin())
    assert _take(oidc).status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"join_cost": "captcha"}, "join_cost"),
        ({"pow_bits": 29}, "pow_bits"),
        ({"captcha_provider": "recaptcha"}, "captcha_provider"),
        ({"captcha_secret_env": "not a name"}, "captcha_secret_env"),
        ({"tickets_per_ip_per_minute": -1}, "tickets_per_ip_per_minute"),
    ],
)
def test_bad_join_settings_are_refused_and_change_nothing(oidc, body, field):
    refused = oidc.browser.patch("/admin/rooms/shop/settings", json=body, headers=admin())
    assert refused.status_code == 400 and refused.json["field"] == field
    assert oidc.room()["overrides"] == {}


def _form(page: str) -> dict[str, str]:
    pairs = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)
    return {unescape(k): unescape(v) for k, v in pairs}


def test_a_new_browser_gets_the_pow_step_and_no_ticket(pow_oidc):
    before = pow_oidc.room()
    page = pow_oidc.authorize()
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="pow-form"' in html and "pow_worker.js" in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "<script>" not in html  # no inline script under the strict CSP
    assert "Set-Cookie" not in page.headers
    assert pow_oidc.room() == before


def test_without_javascript_the_page_says_so_and_takes_no_ticket(pow_oidc):
    """Deliberate: nothing can be solved without a script, so nobody skips the price."""
    html = pow_oidc.authorize().get_data(as_text=True)
    noscript = re.search(r"<noscript>(.*?)</noscript>", html, re.S)
    assert noscript and "needs JavaScript" in noscript.group(1)
    assert 'http-equiv="refresh"' not in html


def test_the_posted_solution_takes_the_ticket_and_the_wait_forgets_it(pow_oidc):
    html = pow_oidc.authorize(state="s1").get_data(as_text=True)
    form = _form(html)
    assert form["state"] == "s1" and form["client_id"] == "alb"
    form["pow_counter"] = solve(form["pow_challenge"], BITS)
    served = pow_oidc.browser.post("/authorize", data=form)
    assert served.status_code == 302 and "code=" in served.headers["Location"]
    assert "pow_" not in served.headers["Location"]
    again = pow_oidc.authorize(state="s2")  # the cookie's ticket passes freely
    assert again.status_code == 302


def test_json_mode_of_authorize_gets_the_challenge_as_json(pow_oidc):
    params = pow_oidc.authorize_params()
    refused = pow_oidc.browser.get(
        "/authorize", query_string=params, headers={"Accept": "application/json"}
    )
    assert refused.status_code == 401 and refused.json["error"] == "pow_required"


def test_challenges_are_bound_to_the_secret_and_room():
    now = 1_000
    text = join_cost.new_challenge("secret", "shop", 4, now)
    assert join_cost.parse_challenge("secret", "shop", text, now) is not None
    assert join_cost.parse_challenge("other-secret", "shop", text, now) is None
    assert join_cost.parse_challenge("secret", "hall", text, now) is None
    assert join_cost.parse_challenge("secret", "shop", text, now + 10_000) is None
    assert join_cost.solves(text, solve(text, 4), 4)
    assert join_cost.solves(text, "0", 0)


def test_the_redirect_integration_pays_the_same_price(pow_oidc):
    """/wait/<room> takes tickets too: its step sends the solution back by GET."""
    wait_url = f"/wait/shop?return_to={fx.SITE}/cart"
    before = pow_oidc.room()
    step = pow_oidc.browser.get(wait_url)
    html = step.get_data(as_text=True)
    assert step.status_code == 200 and 'method="get" action="/wait/shop"' in html
    assert pow_oidc.room() == before
    form = _form(html)
    assert form["return_to"] == f"{fx.SITE}/cart"
    form["pow_counter"] = solve(form["pow_challenge"], BITS)
    # Encoded as a browser submits a GET form (":" and "/" too).
    joined = pow_oidc.browser.get("/wait/shop?" + urlencode(form))
    assert joined.status_code in (302, 303), joined.get_data(as_text=True)
    assert joined.headers["Location"].startswith(f"{fx.SITE}/cart")
    assert "pow_" not in joined.headers["Location"]


def test_the_operator_guides_app_example_gets_a_ticket(pow_oidc):
    """docs/operators.md's snippet for apps, run as written against a served app."""
    snippet = doc_block("docs/operators.md", "python", "pow_counter")
    namespace: dict = {}
    with served(pow_oidc.app) as base:
        exec(snippet.replace("https://queue.example.com", base), namespace)  # noqa: S102
    assert namespace["r"].status_code == 201
    taken = namespace["ticket"]["ticket"]
    assert pow_oidc.browser.get(f"/api/rooms/shop/tickets/{taken}").json["ticket"] == taken
