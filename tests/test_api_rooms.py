"""The public room JSON API: state, take a ticket, ticket status."""

from __future__ import annotations

import pytest

SHOP = {"admit_per_minute": 60, "max_active": 1, "claim_seconds": 30}


@pytest.fixture
def api(make_app):
    return make_app(rooms={"shop": SHOP, "other": {"admit_per_minute": 0}}).test_client()


def take(api, body: dict | None = None, room: str = "shop"):
    return api.post(f"/api/rooms/{room}/tickets", json=body)


def test_take_then_status_reports_the_same_ticket(api):
    taken = take(api)
    assert taken.status_code == 201
    assert taken.headers["Cache-Control"] == "no-store"
    assert taken.json["ticket_secret"]
    status = api.get(f"/api/rooms/shop/tickets/{taken.json['ticket']}")
    assert status.status_code == 200
    assert (status.json["ticket"], status.json["number"]) == (taken.json["ticket"], 1)
    assert status.json["state"] == "served" and status.json["served"] is True


def test_status_of_a_waiting_ticket(api):
    take(api)
    taken = take(api)
    body = api.get(f"/api/rooms/shop/tickets/{taken.json['ticket']}").json
    assert (body["state"], body["served"], body["position"], body["ahead"]) == (
        "waiting",
        False,
        1,
        0,
    )
    assert body["now_serving"] == 1 and body["waiting"] == 1
    assert "ticket_secret" not in body


def test_taking_again_with_a_live_ticket_returns_it(api):
    first = take(api).json
    waiting = take(api).json
    for held in (first, waiting):
        again = take(api, {"ticket": held["ticket"]})
        assert again.status_code == 200
        assert (again.json["ticket"], again.json["number"]) == (held["ticket"], held["number"])
        assert "ticket_secret" not in again.json
    assert api.get("/api/rooms/shop").json["last_ticket"] == 2


def test_taking_again_with_an_ended_ticket_gives_a_new_one(api):
    engine = api.application.extensions["waiting_room"].engine
    first = take(api).json
    engine.finish("shop", first["ticket"])
    again = take(api, {"ticket": first["ticket"]})
    assert again.status_code == 201
    assert again.json["ticket"] != first["ticket"] and again.json["number"] == 2


def test_a_lapsed_turn_is_ended_even_if_nobody_called_since(api, clock):
    served = take(api).json
    assert served["state"] == "served"
    for _ in range(SHOP["claim_seconds"]):  # others keep the room in use meanwhile
        clock.advance(1)
        api.application.extensions["waiting_room"].engine.state("shop")
    again = take(api, {"ticket": served["ticket"]})
    assert again.status_code == 201 and again.json["number"] == 2


def test_a_ticket_of_another_room_is_not_reused(api):
    other = take(api, room="other").json
    mine = take(api, {"ticket": other["ticket"]})
    assert mine.status_code == 201 and mine.json["ticket"] != other["ticket"]


def test_status_of_an_ended_ticket_is_410(api):
    engine = api.application.extensions["waiting_room"].engine
    ticket = take(api).json["ticket"]
    engine.finish("shop", ticket)
    gone = api.get(f"/api/rooms/shop/tickets/{ticket}")
    assert gone.status_code == 410
    assert (gone.json["error"], gone.json["state"]) == ("ticket_ended", "done")


def test_closed_room_refuses_tickets_with_403(api, admin_headers):
    held = take(api).json
    api.post("/admin/rooms/shop/close", headers=admin_headers)
    refused = take(api)
    assert refused.status_code == 403
    assert refused.json["error"] == "room_closed"
    assert take(api, {"ticket": held["ticket"]}).status_code == 200
    assert api.get("/api/rooms/shop").json["last_ticket"] == 1


def test_room_state_is_public_and_cacheable(api):
    take(api)
    take(api)
    response = api.get("/api/rooms/shop")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=2"
    body = response.json
    assert body["room"] == "shop" and body["mode"] == "auto"
    assert (body["waiting"], body["now_serving"], body["last_ticket"]) == (1, 1, 2)
    assert (body["active"], body["max_active"], body["admit_per_minute"]) == (1, 1, 60)
    assert body["served_total"] == 1


def test_polling_is_the_heartbeat(make_app, clock):
    api = make_app(rooms={"shop": {"admit_per_minute": 0, "waiting_grace_seconds": 15}})
    client = api.test_client()
    silent, polling = (take(client).json["ticket"] for _ in range(2))
    for _ in range(30):
        clock.advance(10)
        body = client.get(f"/api/rooms/shop/tickets/{polling}").json
        assert body["state"] == "waiting"
    assert (body["position"], body["ahead"], body["waiting"]) == (1, 0, 1)
    gone = client.get(f"/api/rooms/shop/tickets/{silent}")
    assert gone.status_code == 410 and gone.json["state"] == "abandoned"
    assert take(client, {"ticket": silent}).json["number"] == 3
