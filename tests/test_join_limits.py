"""Per-source limits on new tickets and the CAPTCHA hook (real Redis; the
CAPTCHA provider is the only thing mocked, with requests-mock)."""

from __future__ import annotations

import pytest
import requests

from oidc_adapter.room.join_rules import JoinRules, read_join_rules
from oidc_adapter.room.settings import RoomSettings
from oidc_adapter.room.source_limit import source_of
from oidc_adapter.web.captcha import TIMEOUT_SECONDS, VERIFY_URLS

from . import oidc_fixtures as fx
from . import test_cli_room as cli
from .join_support import solve
from .oidc_fixtures import admin, default_rooms

make_oidc, oidc = fx.make_oidc, fx.oidc  # fixtures
config_file, room = cli.config_file, cli.room  # fixtures: `oidc-adapter room ...`

PROXY = "127.0.0.1"  # trusted by default (loopback)


def _room(make_oidc, **settings):
    rooms = default_rooms()
    rooms["shop"].update(settings)
    return make_oidc(rooms=rooms)


def _take(oidc, client_ip: str | None = None, peer: str = PROXY, **body):
    headers = {"X-Forwarded-For": client_ip} if client_ip else {}
    return oidc.browser.post(
        "/api/rooms/shop/tickets",
        json=body,
        headers=headers,
        environ_base={"REMOTE_ADDR": peer},
    )


@pytest.mark.parametrize(
    ("address", "source"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:198.51.100.4", "198.51.100.4"),
        ("", "unknown"),
    ],
)
def test_a_source_is_an_ipv4_address_or_an_ipv6_64(address, source):
    assert source_of(address) == source


def test_over_the_limit_is_429_with_retry_after_and_no_ticket(make_oidc, clock):
    oidc = _room(make_oidc, tickets_per_ip_per_minute=2)
    assert [_take(oidc, "203.0.113.7").status_code for _ in range(2)] == [201, 201]
    before = oidc.room()
    refused = _take(oidc, "203.0.113.7")
    assert refused.status_code == 429
    assert refused.json["error"] == "too_many_tickets"
    assert refused.headers["Retry-After"] == "30" == str(refused.json["retry_after"])
    assert oidc.room() == before  # no ticket was taken
    assert _take(oidc, "203.0.113.8").status_code == 201  # another client has its own
    clock.advance(30)
    assert _take(oidc, "203.0.113.7").status_code == 201  # one token back
    assert _take(oidc, "203.0.113.7").status_code == 429


def test_ipv6_counts_per_64(make_oidc):
    oidc = _room(make_oidc, tickets_per_ip_per_minute=1)
    assert _take(oidc, "2001:db8:1:2::1").status_code == 201
    assert _take(oidc, "2001:db8:1:2:ffff::9").status_code == 429
    assert _take(oidc, "2001:db8:1:3::1").status_code == 201


def test_forwarded_for_from_an_untrusted_peer_is_not_believed(make_oidc):
    oidc = _room(make_oidc, tickets_per_ip_per_minute=1)
    assert _take(oidc, "203.0.113.1", peer="192.0.2.50").status_code == 201
    # A new made-up client address per request changes nothing: the peer counts.
    assert _take(oidc, "203.0.113.2", peer="192.0.2.50").status_code == 429


def test_a_held_live_ticket_is_not_charged(make_oidc):
    oidc = _room(make_oidc, tickets_per_ip_per_minute=1)
    taken = _take(oidc, "203.0.113.7")
    again = _take(oidc, "203.0.113.7", ticket=taken.json["ticket"])
    assert again.status_code == 200 and again.json["ticket"] == taken.json["ticket"]


def test_the_limit_applies_to_new_browsers_at_authorize(make_oidc):
    oidc = _room(make_oidc, tickets_per_ip_per_minute=1)
    params = oidc.authorize_params()
    first = oidc.browser.get(
        "/authorize", query_string=params, headers={"X-Forwarded-For": "203.0.113.9"}
    )
    assert first.status_code == 302
    second = oidc.new_browser().get(
        "/authorize",
        query_string=oidc.authorize_params(),
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    assert second.status_code == 429
    assert int(second.headers["Retry-After"]) >= 1
    assert "text/html" in second.headers["Content-Type"]
    assert "Too many new tickets" in second.get_data(as_text=True)
    assert "Set-Cookie" not in second.headers
    # The first browser comes back with its ticket: not a new one, not charged.
    assert oidc.browser.get("/authorize", query_string=params).status_code == 302


def test_the_limit_is_live_and_zero_turns_it_off(oidc):
    for _ in range(3):
        assert _take(oidc, "203.0.113.7").status_code == 201
    on = oidc.browser.patch(
        "/admin/rooms/shop/settings", json={"tickets_per_ip_per_minute": 1}, headers=admin()
    )
    assert on.status_code == 200
    assert _take(oidc, "203.0.113.7").status_code == 201
    assert _take(oidc, "203.0.113.7").status_code == 429
    oidc.browser.patch(
        "/admin/rooms/shop/settings", json={"tickets_per_ip_per_minute": 0}, headers=admin()
    )
    assert _take(oidc, "203.0.113.7").status_code == 201


@pytest.fixture
def captcha_oidc(make_oidc, monkeypatch):
    monkeypatch.setenv("WR_TEST_CAPTCHA_SECRET", "s3cret")
    return _room(
        make_oidc, captcha_provider="turnstile", captcha_secret_env="WR_TEST_CAPTCHA_SECRET"
    )


def test_a_confirmed_captcha_takes_a_ticket(captcha_oidc, requests_mock):
    verify = requests_mock.post(VERIFY_URLS["turnstile"], json={"success": True, "error-codes": []})
    taken = _take(captcha_oidc, "203.0.113.7", captcha_token="tok-123")
    assert taken.status_code == 201
    sent = verify.last_request
    assert sent.timeout == TIMEOUT_SECONDS
    form = dict(pair.split("=") for pair in sent.text.split("&"))
    assert form == {"secret": "s3cret", "response": "tok-123", "remoteip": "203.0.113.7"}


@pytest.mark.parametrize(
    ("reply", "status", "error"),
    [
        (
            {"json": {"success": False, "error-codes": ["invalid-input-response"]}},
            403,
            "captcha_failed",
        ),
        ({"json": {"success": "yes"}}, 403, "captcha_failed"),
        ({"status_code": 500, "text": "oops"}, 503, "captcha_unavailable"),
        ({"text": "not json"}, 503, "captcha_unavailable"),
        ({"json": ["not", "an", "object"]}, 503, "captcha_unavailable"),
        ({"exc": requests.exceptions.ConnectTimeout}, 503, "captcha_unavailable"),
    ],
)
def test_anything_but_success_fails_closed(captcha_oidc, requests_mock, reply, status, error):
    requests_mock.post(VERIFY_URLS["turnstile"], **reply)
    before = captcha_oidc.room()
    refused = _take(captcha_oidc, captcha_token="tok")
    assert (refused.status_code, refused.json["error"]) == (status, error)
    assert captcha_oidc.room() == before


def test_no_token_or_no_secret_is_refused_without_asking_the_provider(
    captcha_oidc, requests_mock, monkeypatch
):
    verify = requests_mock.post(VERIFY_URLS["turnstile"], json={"success": True})
    assert _take(captcha_oidc).json["error"] == "captcha_required"
    monkeypatch.delenv("WR_TEST_CAPTCHA_SECRET")
    refused = _take(captcha_oidc, captcha_token="tok")
    assert (refused.status_code, refused.json["error"]) == (503, "captcha_unavailable")
    assert not verify.called


def test_hcaptcha_widget_field_is_read_at_authorize(make_oidc, requests_mock, monkeypatch):
    monkeypatch.setenv("WR_TEST_HCAPTCHA", "hsecret")
    oidc = _room(make_oidc, captcha_provider="hcaptcha", captcha_secret_env="WR_TEST_HCAPTCHA")
    verify = requests_mock.post(VERIFY_URLS["hcaptcha"], json={"success": True})
    params = oidc.authorize_params()
    refused = oidc.new_browser().get("/authorize", query_string=params)
    assert refused.status_code == 403 and "Set-Cookie" not in refused.headers
    served = oidc.browser.post("/authorize", data={**params, "h-captcha-response": "P0_tok"})
    assert served.status_code == 302 and "h-captcha" not in served.headers["Location"]
    assert "response=P0_tok" in verify.last_request.text


def test_room_set_changes_the_door_live(room, redis_client):
    """`oidc-adapter room set` reaches the same rules the door reads."""
    done = room("set", "shop", "join_cost=pow", "pow_bits=18", "captcha_secret_env=TS_SECRET")
    assert done.exit_code == 0, done.output
    assert room("set", "shop", "tickets_per_ip_per_minute=10").exit_code == 0
    rules = read_join_rules(redis_client, "shop", RoomSettings())
    assert rules == JoinRules("pow", 18, "none", "TS_SECRET", 10)
    refused = room("set", "shop", "pow_bits=29", "captcha_provider=recaptcha")
    assert refused.exit_code == 2
    assert "pow_bits" in refused.output and "captcha_provider" in refused.output
    assert read_join_rules(redis_client, "shop", RoomSettings()) == rules


def test_a_visitor_over_the_limit_keeps_its_proof_of_work(make_oidc, clock):
    oidc = _room(make_oidc, join_cost="pow", pow_bits=4, tickets_per_ip_per_minute=1)

    def solved() -> dict[str, str]:
        challenge = _take(oidc, "203.0.113.7").json["challenge"]
        return {"pow_challenge": challenge, "pow_counter": solve(challenge, 4)}

    assert _take(oidc, "203.0.113.7", **solved()).status_code == 201
    kept = solved()
    assert _take(oidc, "203.0.113.7", **kept).status_code == 429
    clock.advance(60)
    assert _take(oidc, "203.0.113.7", **kept).status_code == 201
