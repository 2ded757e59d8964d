"""Proof of work at join in a real Chromium: the Web Worker solves the room's
challenge with WebCrypto under the strict CSP, and the browser joins the line
and gets in; without JavaScript it is told why it cannot join, and takes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from . import test_waiting_page_browser as waiting
from .conftest import Stack
from .test_waiting_page_browser import SHOWS, allowed_hosts, expect

pytestmark = pytest.mark.e2e

BITS = 10
open_page = waiting.open_page  # fixture


def _settings(stack: Stack, room: str, **values: Any) -> dict[str, Any]:
    r = requests.patch(
        f"{stack.issuer}/admin/rooms/{room}/settings", json=values, headers=stack.admin, timeout=10
    )
    assert r.status_code == 200, r.text
    return r.json()


def _last_ticket(stack: Stack, room: str) -> int:
    """From the admin API: the public room state may be a second old (snapshot cache)."""
    r = requests.get(f"{stack.issuer}/admin/rooms/{room}", headers=stack.admin, timeout=10)
    return r.json()["last_ticket"]


@pytest.fixture
def pow_room(stack: Stack) -> Iterator[str]:
    """A room of its own with proof of work on while the test runs (workers
    keep a room's join rules up to a second, so no other test may meet it).
    The Redis is the session's, shared with the other browser modules: the
    room is left empty."""
    room = "pow"
    _settings(stack, room, join_cost="pow", pow_bits=BITS)
    yield room
    _settings(stack, room, join_cost=None, pow_bits=None)
    stack.reset(room)


def test_chromium_solves_the_challenge_joins_and_gets_in(stack, open_page, pow_room):
    before = _last_ticket(stack, pow_room)
    page, watch = open_page()
    site = stack.site(pow_room)
    page.goto(site + "/")
    ex = expect()
    # The worker's solution went back to /authorize, which took the ticket.
    ex(page.locator("#position")).to_have_text("1", timeout=SHOWS)
    assert _last_ticket(stack, pow_room) == before + 1
    stack.admit(pow_room, 1)
    page.wait_for_url(site + "/", timeout=SHOWS)
    ex(page.locator("h1")).to_have_text("You are in!")
    # No CSP violation (they are console errors), nothing fetched from elsewhere.
    assert watch.errors_on(stack.issuer) == []
    assert watch.hosts() <= allowed_hosts(stack, pow_room)
    assert any(r.url.split("?")[0].endswith("/pow_worker.js") for r in watch.requests)


def test_without_javascript_chromium_is_told_and_takes_no_ticket(stack, open_page, pow_room):
    before = _last_ticket(stack, pow_room)
    page, _ = open_page(java_script_enabled=False)
    page.goto(stack.site(pow_room) + "/")
    page.wait_for_url(f"{stack.issuer}/authorize?*")
    ex = expect()
    ex(page.locator("#pow-nojs")).to_contain_text("needs JavaScript")
    ex(page.locator("#position")).to_have_count(0)
    assert _last_ticket(stack, pow_room) == before
