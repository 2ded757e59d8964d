"""Estimated waits come from admissions measured, not from the configured rate."""

from __future__ import annotations


def waiting_estimate(client, ticket: str) -> tuple[int, dict | None]:
    body = client.get(f"/api/rooms/shop/tickets/{ticket}").json
    return body["position"], body["estimated_wait"]


def test_no_admissions_measured_means_no_estimate(make_app, clock):
    client = make_app(rooms={"shop": {"admit_per_minute": 0}}).test_client()
    tickets = [client.post("/api/rooms/shop/tickets").json["ticket"] for _ in range(3)]
    clock.advance(30)
    assert waiting_estimate(client, tickets[2]) == (3, None)
    room = client.get("/api/rooms/shop").json
    assert room["measured_admit_per_minute"] is None
    assert room["estimated_wait_for_newcomer"] is None


def test_estimate_is_a_range_once_admissions_happened(make_app, clock):
    client = make_app(rooms={"shop": {"admit_per_minute": 60}}).test_client()
    tickets = [client.post("/api/rooms/shop/tickets").json["ticket"] for _ in range(60)]
    for _ in range(20):
        clock.advance(1)
        client.get("/api/rooms/shop")
    position, estimate = waiting_estimate(client, tickets[-1])
    assert position == 30
    assert estimate["low"] <= estimate["seconds"] <= estimate["high"]
    assert estimate["low"] < estimate["high"]
    # Measured about one per second (the rate is also the ceiling).
    assert 20 <= estimate["seconds"] <= 45
    assert 0.5 <= estimate["rate_per_minute"] / 60 <= 1
    newcomer = client.get("/api/rooms/shop").json["estimated_wait_for_newcomer"]
    assert newcomer["seconds"] > estimate["seconds"]


def test_a_full_room_estimates_its_real_pace_not_the_configured_rate(make_app, clock):
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
    tickets = [client.post("/api/rooms/shop/tickets").json["ticket"] for _ in range(30)]
    seen = []
    for second in range(1, 5 * 60 + 1):
        for ticket in tickets:
            if engine.status("shop", ticket, heartbeat=False).state == "served":
                engine.claim("shop", ticket)
        clock.advance(1)
        if second >= 4 * 60:  # a whole cycle: just after a burst, and just before the next
            seen.append(waiting_estimate(client, tickets[-1]))
    # Two sessions a minute get in (about 30 s per place); 600/min would say 0.1 s.
    for position, estimate in seen:
        assert estimate["low"] <= estimate["seconds"] <= estimate["high"]
        assert 15 * position <= estimate["seconds"] <= 60 * position
        assert estimate["rate_per_minute"] < 4
