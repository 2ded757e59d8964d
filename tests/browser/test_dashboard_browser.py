"""The operator dashboard in real Chromium: sign in, watch the charts move
during a rush, steer the room from the page; calls without the CSRF token or
without a session are refused. Screenshots go to tests/artifacts (the docs'
copies in docs/images come from there)."""

from __future__ import annotations

import requests

from ..conftest import ADMIN_TOKEN
from .conftest import ARTIFACTS, Stack

ROOM = "dash"  # a room of its own: its rush and rate change stay here
#: A chart's newest bucket needs at most a bucket and a refresh to show up.
CHART_TIMEOUT_MS = 30_000


def last_drawn(page, chart: str) -> str | None:
    return page.get_attribute(f"#chart-{chart}", "data-last")


def wait_for_change(page, chart: str, before: str | None) -> str:
    page.wait_for_function(
        "([id, before]) => { const v = document.getElementById(id).getAttribute('data-last');"
        " return v !== null && v !== before; }",
        arg=[f"chart-{chart}", before],
        timeout=CHART_TIMEOUT_MS,
    )
    return last_drawn(page, chart)


def buckets(drawn: str) -> int:
    return int(drawn.partition(":")[0])


def sign_in(page, stack: Stack) -> None:
    page.goto(f"{stack.issuer}/admin/")
    page.fill("#token", ADMIN_TOKEN + "-wrong")
    page.click("button[type=submit]")
    assert "not a valid admin token" in page.text_content(".problem")
    page.fill("#token", ADMIN_TOKEN)
    page.click("button[type=submit]")
    page.wait_for_selector(f'tr[data-room="{ROOM}"]')


def test_an_operator_watches_a_rush_and_steers_it(stack, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))  # script errors, and CSP refusals:
    page.on("console", lambda m: errors.append(m.text) if "Security Policy" in m.text else None)
    sign_in(page, stack)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.click(f'a:text-is("{ROOM}")')
    page.wait_for_selector("#chart-waiting[data-last]")
    waiting = last_drawn(page, "waiting")

    stack.take(ROOM, 12)  # a rush while the page is open
    waiting = wait_for_change(page, "waiting", waiting)
    assert waiting.endswith(":12")
    assert last_drawn(page, "arrivals") != "1:0"

    page.fill("#rate", "30")
    page.fill("#cap", "0")
    page.click("#settings-form button[type=submit]")
    page.wait_for_selector("#confirm:not([hidden])")
    assert "A newcomer's wait goes from no estimate to" in page.text_content("#confirm-text")
    page.click("#confirm-yes")
    page.wait_for_function(
        "() => document.getElementById('message').textContent.startsWith('Now 30 per minute')"
    )
    shown = requests.get(f"{stack.issuer}/admin/rooms/{ROOM}", headers=stack.admin, timeout=10)
    assert shown.json()["admit_per_minute"] == 30

    for wave in range(3):  # more arrivals in new buckets: the lines grow and move
        stack.take(ROOM, 4 + 3 * wave)
        drawn = wait_for_change(page, "waiting", waiting)
        while buckets(drawn) <= buckets(waiting):
            drawn = wait_for_change(page, "waiting", drawn)
        waiting = drawn
    assert buckets(waiting) >= 4
    wait_for_change(page, "admissions", None)
    page.screenshot(path=str(ARTIFACTS / "dashboard-room.png"), full_page=True)

    refused = page.evaluate(
        "fetch(document.body.dataset.actions + '/pause', {method: 'POST'}).then(r => r.status)"
    )
    assert refused == 403
    assert (
        requests.get(f"{stack.issuer}/admin/rooms/{ROOM}", headers=stack.admin).json()["mode"]
        != "paused"
    )

    page.goto(f"{stack.issuer}/admin/")
    page.wait_for_selector(f'tr[data-room="{ROOM}"]')
    page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"), full_page=True)
    assert errors == []
    context.close()


def test_without_a_session_the_data_and_the_controls_answer_401(stack, browser):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{stack.issuer}/admin/ui/rooms/{ROOM}")
    assert page.url == f"{stack.issuer}/admin/"  # a page sends you to sign in
    statuses = page.evaluate(
        """Promise.all([
             fetch('/admin/ui/data/rooms/flow').then(r => r.status),
             fetch('/admin/ui/rooms/flow/pause', {method: 'POST'}).then(r => r.status)])"""
    )
    assert statuses == [401, 401]
    context.close()
