"""Estimated waits follow the room's schedule: the rate, and slots under the cap."""

from __future__ import annotations


def waiting_estimate(client, ticket: str) -> tuple[int, dict | None]:
    body = client.get(f"/api/rooms/shop/tickets/{ticket}").json
    return body["position"], body["estimated_wait"]


def take(client) -> str:
    return client.post("/api/rooms/shop/tickets").json["ticket"]


def test_manual_admission_promises_no_rate_even_after_an_admission(make_app, clock, admin_headers):
    """Issue 9: one `room admit` made a manual-only room advertise 6/min and 10 s."""
    client = make_app(rooms={"shop": {"admit_per_minute": 0}}).test_client()
    tickets = [take(client) for _ in range(3)]
    clock.advance(1)
    response = client.post("/admin/rooms/shop/admit", json={"count": 1}, headers=admin_headers)
    assert response.json["admitted"] == 1
    clock.advance(1)
    body = client.get(f"/api/rooms/shop/tickets/{tickets[2]}").json
    assert (body["position"], body["estimated_wait"]) == (2, None)
    assert body["estimate_unavailable"] == "manual_admission"
    room = client.get("/api/rooms/shop").json
    assert room["measured_admit_per_minute"] is not None  # measured, but not a promise
    assert room["estimated_wait_for_newcomer"] is None
    assert room["estimate_unavailable"] == "manual_admission"


def test_estimate_is_a_range_around_the_schedule(make_app, clock):
    client = make_app(rooms={"shop": {"admit_per_minute": 60}}).test_client()
    tickets = [take(client) for _ in range(60)]
    position, estimate = waiting_estimate(client, tickets[-1])
    assert position == 50  # a fresh room lets a bucket (10 s of rate) in at once
    # One a second; nobody has left yet, so the fast end assumes a few will.
    assert estimate["high"] == 51 and 43 <= estimate["low"] < 50
    # Likely: nobody has left, so the schedule's own answer, half a second
    # into the 50th second (a whole interval away, or due now).
    assert estimate["seconds"] == 50
    assert estimate["rate_per_minute"] == 60
    room = client.get("/api/rooms/shop").json
    assert room["estimate_unavailable"] is None
    assert room["estimated_wait_for_newcomer"]["high"] == 52


def test_people_leaving_the_line_widen_the_range_towards_shorter_waits(make_app, clock):
    client = make_app(rooms={"shop": {"admit_per_minute": 60}}).test_client()
    engine = client.application.extensions["waiting_room"].engine
    tickets = [take(client) for _ in range(40)]
    for ticket in tickets[10:20]:  # a third of those who left the line left unserved
        assert engine.finish("shop", ticket).state == "done"
    position, estimate = waiting_estimate(client, tickets[-1])
    assert position == 20
    assert estimate["high"] == 21
    assert estimate["low"] <= 20 * (1 - 2 * 0.33)


def test_a_rate_cut_shows_at_the_next_poll(make_app, clock, admin_headers):
    client = make_app(rooms={"shop": {"admit_per_minute": 600}}).test_client()
    tickets = [take(client) for _ in range(400)]
    assert waiting_estimate(client, tickets[-1])[1]["high"] == 31
    response = client.patch(
        "/admin/rooms/shop/settings", json={"admit_per_minute": 200}, headers=admin_headers
    )
    assert response.status_code == 200
    position, estimate = waiting_estimate(client, tickets[-1])
    assert (position, estimate["high"], estimate["rate_per_minute"]) == (300, 91, 200)


def test_a_full_room_estimates_from_when_sessions_end(make_app, clock):
    rooms = {
        "shop": {
            "admit_per_minute": 600,
            "max_active": 2,
            "session_seconds": 60,
            "waiting_grace_seconds": 3600,
        }
    }
    client = make_app(rooms=rooms).test_client()
    engine = client.application.extensions["waiting_room"].engine
    tickets = [take(client) for _ in range(30)]
    seen = []
    for second in range(1, 5 * 60 + 1):
        for ticket in tickets:
            if engine.status("shop", ticket).state == "served":
                engine.claim("shop", ticket)
        clock.advance(1)
        if second >= 4 * 60:  # a whole cycle: just after a burst, and just before the next
            seen.append(waiting_estimate(client, tickets[-1]))
    # Two sessions a minute get in (30 s per place); 600/min would say 0.1 s.
    # These claim at once; the slow end allows each claim a poll period (30 s).
    for position, estimate in seen:
        assert estimate["low"] <= 30 * position <= estimate["high"] <= 45 * position + 30
        assert estimate["rate_per_minute"] < 2.5


def test_a_cap_cut_shows_at_the_next_poll(make_app, clock, admin_headers):
    """Issue 9: after the cap was cut to a third the estimate kept the old pace
    for 15 s while nobody was let in."""
    rooms = {
        "shop": {
            "admit_per_minute": 600,
            "max_active": 30,
            "session_seconds": 300,
            "claim_seconds": 600,
        }
    }
    client = make_app(rooms=rooms).test_client()
    engine = client.application.extensions["waiting_room"].engine
    tickets = [take(client) for _ in range(60)]
    for ticket in tickets[:30]:
        engine.claim("shop", ticket)
        clock.advance(5)  # sessions end 5 s apart
        for waiting in tickets[30:]:
            client.get(f"/api/rooms/shop/tickets/{waiting}")
    before = waiting_estimate(client, tickets[-1])
    response = client.patch(
        "/admin/rooms/shop/settings", json={"max_active": 10}, headers=admin_headers
    )
    assert response.status_code == 200
    after = waiting_estimate(client, tickets[-1])
    # 30 people ahead: 20 sessions must end before the first of them gets in.
    assert before[0] == after[0] == 30
    assert after[1]["low"] > before[1]["high"]
    assert after[1]["rate_per_minute"] < before[1]["rate_per_minute"] / 2


def test_paused_and_closed_rooms_say_why_there_is_no_estimate(make_app, clock, admin_headers):
    client = make_app(rooms={"shop": {"admit_per_minute": 0}}).test_client()
    ticket = take(client)
    for mode in ("paused", "closed"):
        response = client.patch(
            "/admin/rooms/shop/settings", json={"mode": mode}, headers=admin_headers
        )
        assert response.status_code == 200
        body = client.get(f"/api/rooms/shop/tickets/{ticket}").json
        assert (body["estimated_wait"], body["estimate_unavailable"]) == (None, mode)


def test_early_logouts_bring_the_soon_end_of_a_full_room_forward(make_app, clock):
    rooms = {"shop": {"admit_per_minute": 600, "max_active": 2, "session_seconds": 120}}
    client = make_app(rooms=rooms).test_client()
    engine = client.application.extensions["waiting_room"].engine
    tickets = [take(client) for _ in range(40)]
    before = waiting_estimate(client, tickets[-1])
    for _ in range(8):  # everyone logs out after 12 s of a 120 s session
        for ticket in tickets:
            if engine.status("shop", ticket).state == "served":
                engine.claim("shop", ticket)
        clock.advance(12)
        for ticket in tickets:
            if engine.status("shop", ticket, heartbeat=False).state == "admitted":
                engine.finish("shop", ticket)
    view = engine.status("shop", tickets[-1])
    assert 12 <= view.room.session_mean_s < 40
    position, estimate = waiting_estimate(client, tickets[-1])
    # Full sessions would take 60 s a place; sessions lately last 12 s.
    assert estimate["high"] >= 60 * (position - 1)
    assert estimate["low"] <= 20 * position < before[1]["low"] / 2
