"""Live settings changes mid-queue, through the engine and the admin HTTP API:
nobody's place moves, counts stay consistent, a pause admits nobody and a
resume carries on in order."""

from __future__ import annotations

import pytest

SHOP = {"admit_per_minute": 60, "max_active": 20, "waiting_grace_seconds": 600}


class EngineDriver:
    def __init__(self, app, headers):
        self.engine = app.extensions["waiting_room"].engine

    def set(self, **changes) -> None:
        self.engine.configure("shop", changes)

    def pause(self) -> None:
        self.engine.configure("shop", {"mode": "paused"})

    def resume(self) -> None:
        self.engine.resume("shop")


class HttpDriver:
    def __init__(self, app, headers):
        self.client, self.headers = app.test_client(), headers

    def _ok(self, response) -> None:
        assert response.status_code == 200, response.json

    def set(self, **changes) -> None:
        url = "/admin/rooms/shop/settings"
        self._ok(self.client.patch(url, json=changes, headers=self.headers))

    def pause(self) -> None:
        self._ok(self.client.post("/admin/rooms/shop/pause", headers=self.headers))

    def resume(self) -> None:
        self._ok(self.client.post("/admin/rooms/shop/resume", headers=self.headers))


@pytest.fixture(params=[EngineDriver, HttpDriver], ids=["engine", "admin-http"])
def room(request, make_app, admin_headers):
    app = make_app(rooms={"shop": SHOP})
    return app.extensions["waiting_room"].engine, request.param(app, admin_headers)


def places(engine, tickets) -> dict[str, int | None]:
    """Every ticket's position (None once served); polling is also the heartbeat."""
    return {t.ticket: engine.status("shop", t.ticket).position for t in tickets}


def assert_consistent(engine, tickets) -> None:
    views = [engine.status("shop", t.ticket, heartbeat=False) for t in tickets]
    room = engine.state("shop")
    by_state = {s: sum(v.state == s for v in views) for s in ("waiting", "served", "admitted")}
    assert room.seq == len(tickets)
    assert (room.waiting, room.pending) == (by_state["waiting"], by_state["served"])
    assert room.active == by_state["served"] + by_state["admitted"]
    waiting = sorted((v for v in views if v.state == "waiting"), key=lambda v: v.number)
    assert [v.position for v in waiting] == list(range(1, len(waiting) + 1))
    assert all(v.number > room.cursor for v in waiting)


def test_settings_changes_never_move_anyone(room, clock):
    engine, driver = room
    tickets = [engine.take("shop") for _ in range(40)]
    assert engine.state("shop").served == 10  # the initial bucket
    before = places(engine, tickets)

    for change in (
        {"admit_per_minute": 600},
        {"max_active": 10},
        {"mode": "queue_all"},
        {"claim_seconds": 300, "session_seconds": 600},
        {"waiting_grace_seconds": 900},
        {"mode": "auto"},
    ):
        driver.set(**change)
        assert places(engine, tickets) == before, change
        assert engine.state("shop").served == 10
        assert_consistent(engine, tickets)

    driver.pause()
    for _ in range(12):
        clock.advance(10)
        assert places(engine, tickets) == before
    room_view = engine.state("shop")
    assert (room_view.mode, room_view.served) == ("paused", 10)
    late = engine.take("shop")
    assert late.position == 31
    tickets.append(late)
    before = places(engine, tickets)

    driver.resume()
    assert engine.state("shop").mode == "auto"
    assert places(engine, tickets) == before
    assert_consistent(engine, tickets)

    # Full at max_active 10: each slot freed admits exactly the next in line.
    for expected in tickets[10:20]:
        engine.finish("shop", tickets[expected.number - 11].ticket)
        clock.advance(1)
        assert engine.state("shop").cursor == expected.number
        assert_consistent(engine, tickets)


def test_lowering_the_cap_below_active_admits_nobody_until_below_it(room, clock):
    engine, driver = room
    tickets = [engine.take("shop") for _ in range(15)]
    for t in tickets[:10]:
        engine.claim("shop", t.ticket)
    driver.set(max_active=3, admit_per_minute=600)
    for t in tickets[:7]:
        clock.advance(1)
        engine.finish("shop", t.ticket)
        assert engine.state("shop").served == 10
    assert engine.state("shop").active == 3
    engine.finish("shop", tickets[7].ticket)
    room_view = engine.state("shop")
    assert (room_view.active, room_view.cursor) == (3, 11)
    assert_consistent(engine, tickets)


def test_passthrough_serves_the_line_in_order_and_back(room, clock):
    engine, driver = room
    tickets = [engine.take("shop") for _ in range(25)]
    driver.set(mode="passthrough")
    room_view = engine.state("shop")
    assert (room_view.waiting, room_view.served, room_view.cursor) == (0, 25, 25)
    driver.set(mode="queue_all")
    newcomer = engine.take("shop")
    assert newcomer.number == 26
    assert_consistent(engine, [*tickets, newcomer])


def test_rate_zero_mid_event_admits_nobody_by_itself(room, clock):
    engine, driver = room
    tickets = [engine.take("shop") for _ in range(25)]
    clock.advance(10)
    assert engine.state("shop").served == 20  # full (max_active 20)
    clock.advance(8)
    engine.state("shop")  # tokens bank up while the room is full
    driver.set(admit_per_minute=0)
    engine.finish("shop", tickets[0].ticket)
    clock.advance(60)
    room_view = engine.state("shop")
    assert (room_view.served, room_view.active) == (20, 19)
    assert engine.admit("shop", 1)[1] == 1
