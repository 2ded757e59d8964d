"""What visitors of a timed sale see: the closed room says when its line
opens, the pre-queue page says when the sale opens and that places are drawn
then, and the JSON carries the schedule and, once open, the seed."""

from __future__ import annotations

import hashlib
import json
import re

from oidc_adapter.room.present import utc_text

from . import oidc_fixtures as fx
from .test_waiting_page import html_of, rooms

make_oidc = fx.make_oidc  # a fixture

PREQUEUE = 600


def timed_sale(make_oidc, clock):
    opens_at = clock.ms // 1000 + 3600
    sale = {"opens_at": utc_text(opens_at), "prequeue_seconds": PREQUEUE}
    oidc = make_oidc(rooms=rooms(return_origins=[fx.SITE], **sale))
    return oidc, opens_at


def test_before_the_line_opens_the_api_and_page_say_when(make_oidc, clock):
    oidc, opens_at = timed_sale(make_oidc, clock)
    refused = oidc.browser.post("/api/rooms/shop/tickets")
    assert (refused.status_code, refused.json["error"]) == (403, "room_closed")
    sale = refused.json["schedule"]
    assert (sale["phase"], sale["opens_at"]) == ("before", opens_at)
    assert sale["prequeue_opens_at"] == opens_at - PREQUEUE
    assert sale["opens_at_utc"] == utc_text(opens_at)
    page = oidc.browser.get(f"/wait/shop?return_to={fx.SITE}/cart")
    text = page.get_data(as_text=True)
    assert page.status_code == 403
    queue = utc_text(opens_at - PREQUEUE)[:16].replace("T", " ")
    assert f"The line opens at {queue} (UTC)" in text


def test_the_prequeue_page_promises_a_random_place_at_the_opening(make_oidc, clock):
    oidc, opens_at = timed_sale(make_oidc, clock)
    clock.ms = (opens_at - PREQUEUE) * 1000
    page = html_of(oidc.authorize())
    assert re.search(r'<section class="notice" data-view="prequeue">', page)
    assert "everyone here gets a random place" in page
    hhmm = utc_text(opens_at)[11:16]
    assert f'<time id="opens-at" datetime="{utc_text(opens_at)}">{hhmm} UTC</time>' in page
    assert re.search(r'<div class="place" id="place"[^>]* hidden>', page)
    assert 'data-phase="prequeue"' in page
    ticket = json.loads(re.search(r"data-wr='([^']+)'", page).group(1))["ticket"]
    status = oidc.browser.get(f"/api/rooms/shop/tickets/{ticket}").json
    assert status["position"] is None and status["estimate_unavailable"] == "prequeue"
    commitment = status["schedule"]["commitment"]
    assert len(commitment) == 64 and status["schedule"]["seed"] is None

    clock.ms = opens_at * 1000
    sale = oidc.browser.get("/api/rooms/shop").json["schedule"]
    assert (sale["phase"], sale["prequeue_size"]) == ("open", 1)
    assert hashlib.sha256(bytes.fromhex(sale["seed"])).hexdigest() == commitment
    status = oidc.browser.get(f"/api/rooms/shop/tickets/{ticket}").json
    assert status["position"] == 1
