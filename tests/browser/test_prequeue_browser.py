"""A timed sale's pre-queue in a real browser: the page promises a random
place at the opening instead of showing one, then shows the drawn place by
itself once the room opens. Every wait is on a condition with a deadline."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import requests

from .conftest import Stack
from .test_waiting_page_browser import SHOWS, expect, open_page  # noqa: F401 (a fixture)

pytestmark = pytest.mark.e2e


def change(stack: Stack, room: str, **settings: Any) -> None:
    r = requests.patch(
        f"{stack.issuer}/admin/rooms/{room}/settings",
        json=settings,
        headers=stack.admin,
        timeout=10,
    )
    assert r.status_code == 200, r.text


def test_prequeue_page_then_the_drawn_place_after_the_opening(stack, open_page):  # noqa: F811
    room = "polls"
    now = int(time.time())
    change(stack, room, opens_at=now + 3600, prequeue_seconds=7200)
    stack.reset(room)
    try:
        ahead = stack.take(room, 2)
        page, watch = open_page()
        page.goto(stack.site(room) + "/")
        page.wait_for_url(f"{stack.issuer}/authorize?*")
        ex = expect()
        ex(page.locator('[data-view="prequeue"]')).to_be_visible()
        ex(page.locator('[data-view="prequeue"]')).to_contain_text("random place")
        ex(page.locator("#place")).to_be_hidden()
        ex(page.locator("#wait-row")).to_be_hidden()
        # The script shows the opening in the visitor's zone, without the "UTC".
        ex(page.locator("#opens-at")).not_to_contain_text("UTC")

        stack.beat(room, ahead)
        change(stack, room, opens_at=now - 1)  # the sale opens now
        ex(page.locator("#place")).to_be_visible(timeout=SHOWS)
        ex(page.locator('[data-view="prequeue"]')).to_be_hidden()
        ex(page.locator("#position")).to_have_text(re.compile(r"^[123]$"))
        assert watch.errors_on(stack.issuer) == []
    finally:
        change(stack, room, opens_at=None, prequeue_seconds=None)
        stack.reset(room)
