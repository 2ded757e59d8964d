"""The operator API: token checks, validation, and refusals that change nothing."""

from __future__ import annotations

import pytest

from .conftest import ADMIN_TOKEN

SHOP = {"admit_per_minute": 30, "max_active": 5, "claim_seconds": 60}  # bucket: 5
VALID_ID = "A" * 22


@pytest.fixture
def app(make_app):
    return make_app(rooms={"shop": SHOP, "calm": {"mode": "queue_all"}})


@pytest.fixture
def engine(app):
    return app.extensions["waiting_room"].engine


@pytest.fixture
def admin(app, admin_headers):
    client = app.test_client()

    def call(method: str, path: str, body=None, headers=admin_headers, **kwargs):
        return client.open(path, method=method.upper(), json=body, headers=headers, **kwargs)

    return call


@pytest.fixture
def queue(engine):
    """Five served (one admitted), ten waiting."""
    tickets = [engine.take("shop") for _ in range(15)]
    engine.claim("shop", tickets[0].ticket)
    return tickets


def snapshot(engine, tickets) -> tuple:
    views = [engine.status("shop", t.ticket, heartbeat=False) for t in tickets]
    return (
        engine.state("shop"),
        engine.overrides("shop"),
        [(v.number, v.state, v.position) for v in views],
    )


def assert_refused(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.json
    body = response.json
    assert body["error"] and body["error_description"]
    assert response.headers["Cache-Control"] == "no-store"
    if field is not None:
        assert body["field"] == field and field in body["error_description"]
    return body


# -- the admin token -------------------------------------------------------------

ACTIONS = [
    ("get", "/admin/rooms", None),
    ("get", "/admin/rooms/shop", None),
    ("patch", "/admin/rooms/shop/settings", {"admit_per_minute": 1}),
    ("post", "/admin/rooms/shop/settings", {"max_active": 1}),
    ("post", "/admin/rooms/shop/pause", None),
    ("post", "/admin/rooms/shop/resume", None),
    ("post", "/admin/rooms/shop/close", None),
    ("post", "/admin/rooms/shop/admit", {"count": 5}),
    ("post", "/admin/rooms/shop/revoke", {"ticket": VALID_ID}),
    ("post", "/admin/rooms/shop/reset", {"confirm": "shop"}),
]
BAD_AUTH = {
    "missing": {},
    "wrong token": {"Authorization": "Bearer wrong-token-0123456789"},
    "token prefix": {"Authorization": f"Bearer {ADMIN_TOKEN[:-1]}"},
    "token plus": {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
    "basic scheme": {"Authorization": f"Basic {ADMIN_TOKEN}"},
    "no scheme": {"Authorization": ADMIN_TOKEN},
    "empty bearer": {"Authorization": "Bearer "},
}


@pytest.mark.parametrize("headers", BAD_AUTH.values(), ids=BAD_AUTH.keys())
def test_bad_or_missing_token_is_401_and_changes_nothing(admin, engine, queue, headers):
    before = snapshot(engine, queue)
    for method, path, body in ACTIONS:
        response = admin(method, path, body, headers=headers)
        assert_refused(response, 401)
        assert response.json["error"] == "invalid_token"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert snapshot(engine, queue) == before


def test_without_a_configured_token_everything_is_refused(make_app, admin_headers):
    client = make_app(admin_token=None).test_client()
    response = client.post("/admin/rooms/shop/pause", headers=admin_headers)
    assert_refused(response, 401)
    assert client.get("/api/rooms/shop").json["mode"] == "auto"


def test_the_bearer_scheme_is_case_insensitive(admin):
    response = admin("get", "/admin/rooms", headers={"Authorization": f"bearer {ADMIN_TOKEN}"})
    assert response.status_code == 200


# -- reading -------------------------------------------------------------------------


def test_list_and_show_rooms(admin, queue):
    listing = admin("get", "/admin/rooms")
    assert listing.status_code == 200
    assert listing.headers["Cache-Control"] == "no-store"
    assert [r["room"] for r in listing.json["rooms"]] == ["shop", "calm"]
    shop = admin("get", "/admin/rooms/shop").json
    assert (shop["waiting"], shop["active"], shop["pending_claims"]) == (10, 5, 4)
    assert (shop["admitted_total"], shop["abandoned_total"], shop["expired_total"]) == (1, 0, 0)
    assert shop["settings"]["max_active"] == 5 and shop["overrides"] == {}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [(m, p.replace("/shop", "/nope"), b) for m, p, b in ACTIONS if "/shop" in p],
)
def test_unknown_room_is_404(admin, method, path, body):
    assert_refused(admin(method, path, body), 404)


@pytest.mark.parametrize("room", ["Shop", "-x", "a" * 64, "sh%20op"])
def test_malformed_room_is_400(admin, room):
    assert_refused(admin("post", f"/admin/rooms/{room}/pause"), 400, "room")


# -- settings ------------------------------------------------------------------------

BAD_SETTINGS = [
    ({"admit_per_minute": -1}, "admit_per_minute"),
    ({"admit_per_minute": 1_000_001}, "admit_per_minute"),
    ({"admit_per_minute": 10**30}, "admit_per_minute"),
    ({"max_active": -5}, "max_active"),
    ({"session_seconds": 59}, "session_seconds"),
    ({"waiting_grace_seconds": 14}, "waiting_grace_seconds"),
    ({"claim_seconds": 86401}, "claim_seconds"),
    ({"admit_per_minute": "10"}, "admit_per_minute"),
    ({"max_active": 1.5}, "max_active"),
    ({"max_active": True}, "max_active"),
    ({"max_active": [1]}, "max_active"),
    ({"mode": "fast"}, "mode"),
    ({"mode": 3}, "mode"),
    ({"speed": 1}, "speed"),
    ({"speed": None}, "speed"),
    ({"title": "Sale"}, "title"),  # texts come from the config file only
    ({"admit_per_minute": 600, "claim_seconds": 1}, "claim_seconds"),
]


@pytest.mark.parametrize(("body", "field"), BAD_SETTINGS, ids=[f for _, f in BAD_SETTINGS])
def test_bad_settings_are_400_naming_the_field_and_change_nothing(
    admin, engine, queue, body, field
):
    before = snapshot(engine, queue)
    response = admin("patch", "/admin/rooms/shop/settings", body)
    refused = assert_refused(response, 400, field)
    assert field in [p["field"] for p in refused["problems"]]
    assert snapshot(engine, queue) == before


def test_every_bad_setting_is_listed(admin):
    body = {"admit_per_minute": -1, "mode": "x", "colour": "red"}
    refused = assert_refused(admin("patch", "/admin/rooms/shop/settings", body), 400)
    assert {p["field"] for p in refused["problems"]} == set(body)


@pytest.mark.parametrize("raw", [b"", b"{}", b"[]", b"{oops", b"42"])
def test_settings_without_a_json_object_are_400(admin, engine, queue, raw):
    before = snapshot(engine, queue)
    response = admin(
        "patch", "/admin/rooms/shop/settings", data=raw, content_type="application/json"
    )
    assert_refused(response, 400)
    assert snapshot(engine, queue) == before


def test_settings_change_and_null_drops_the_override(admin, engine):
    changed = admin(
        "patch", "/admin/rooms/shop/settings", {"admit_per_minute": 300, "max_active": 7}
    )
    assert changed.status_code == 200
    assert changed.json["overrides"] == {"admit_per_minute": "300", "max_active": "7"}
    assert (changed.json["admit_per_minute"], changed.json["max_active"]) == (300, 7)
    cleared = admin("patch", "/admin/rooms/shop/settings", {"admit_per_minute": None})
    assert cleared.json["overrides"] == {"max_active": "7"}
    assert cleared.json["admit_per_minute"] == 30
    assert engine.state("shop").settings["admit_per_minute"] == 30


def test_null_drops_an_override_of_any_setting(admin):
    admin("patch", "/admin/rooms/shop/settings", {"claim_seconds": 300})
    cleared = admin("patch", "/admin/rooms/shop/settings", {"claim_seconds": None})
    assert cleared.status_code == 200 and cleared.json["overrides"] == {}


# -- modes -----------------------------------------------------------------------------


def test_pause_resume_and_close(admin, app, queue):
    api = app.test_client()
    assert admin("post", "/admin/rooms/shop/pause").json["mode"] == "paused"
    assert api.post("/api/rooms/shop/tickets").json["state"] == "waiting"
    assert admin("post", "/admin/rooms/shop/close").json["mode"] == "closed"
    assert api.post("/api/rooms/shop/tickets").status_code == 403
    assert admin("post", "/admin/rooms/shop/resume").json["mode"] == "auto"
    assert api.post("/api/rooms/shop/tickets").status_code == 201


def test_resume_returns_to_the_configured_mode(admin):
    admin("post", "/admin/rooms/calm/pause")
    assert admin("post", "/admin/rooms/calm/resume").json["mode"] == "queue_all"


# -- admit, revoke, reset -----------------------------------------------------------


@pytest.mark.parametrize("count", [0, -1, 100_001, "3", True, 1.5, None, [2]])
def test_bad_admit_count_is_400_and_admits_nobody(admin, engine, queue, count):
    before = snapshot(engine, queue)
    assert_refused(admin("post", "/admin/rooms/shop/admit", {"count": count}), 400, "count")
    assert snapshot(engine, queue) == before


def test_admit_serves_the_next_in_line_up_to_max_active(admin, engine, queue):
    engine.configure("shop", {"max_active": 8})
    response = admin("post", "/admin/rooms/shop/admit", {"count": 5})
    assert response.status_code == 200
    assert (response.json["admitted"], response.json["requested"]) == (3, 5)
    assert response.json["room"]["now_serving"] == 8
    engine.configure("shop", {"max_active": 0})
    assert admin("post", "/admin/rooms/shop/admit", {"count": 100}).json["admitted"] == 7


def test_revoke_frees_the_slot(admin, engine, queue, clock):
    response = admin("post", "/admin/rooms/shop/revoke", {"ticket": queue[0].ticket})
    assert response.status_code == 200 and response.json["state"] == "revoked"
    assert engine.state("shop").active == 4
    clock.advance(2)  # the next admission at 30/min
    assert engine.status("shop", queue[5].ticket).state == "served"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (None, 400),
        ({}, 400),
        ({"ticket": "nope"}, 400),
        ({"ticket": 7}, 400),
        ({"ticket": VALID_ID}, 404),
    ],
)
def test_bad_revoke_changes_nothing(admin, engine, queue, body, status):
    before = snapshot(engine, queue)
    assert_refused(admin("post", "/admin/rooms/shop/revoke", body), status)
    assert snapshot(engine, queue) == before


@pytest.mark.parametrize(
    "body", [None, {}, {"confirm": "calm"}, {"confirm": True}, {"yes": "shop"}]
)
def test_reset_without_confirmation_is_400_and_changes_nothing(admin, engine, queue, body):
    engine.configure("shop", {"max_active": 6})
    before = snapshot(engine, queue)
    refused = assert_refused(admin("post", "/admin/rooms/shop/reset", body), 400)
    assert refused["error"] in ("confirmation_required", "invalid_request")
    assert snapshot(engine, queue) == before


def test_reset_empties_the_room_and_keeps_settings(admin, engine, queue):
    engine.configure("shop", {"max_active": 6})
    response = admin("post", "/admin/rooms/shop/reset", {"confirm": "shop"})
    assert response.status_code == 200
    body = response.json
    assert (body["waiting"], body["active"], body["last_ticket"], body["served_total"]) == (
        0,
        0,
        0,
        0,
    )
    assert body["overrides"] == {"max_active": "6"}
    assert engine.take("shop").number == 1


def test_compact_forgets_ended_tickets_and_refuses_bad_input(
    admin, engine, queue, clock, redis_client
):
    # An id from before ids carried their number: the only kind with a record.
    redis_client.hset("wr:{shop}:ids", "legacy-ticket-000000001", queue[-1].number)
    engine.finish("shop", "legacy-ticket-000000001", "done")
    clock.advance(10)
    refused = admin("post", "/admin/rooms/shop/compact", {"older_than_seconds": -1})
    assert refused.status_code == 400 and refused.json["field"] == "older_than_seconds"
    assert admin("post", "/admin/rooms/shop/compact", {}).json == {"forgotten": 0}
    done = admin("post", "/admin/rooms/shop/compact", {"older_than_seconds": 5})
    assert done.status_code == 200 and done.json == {"forgotten": 1}
    assert admin("post", "/admin/rooms/shop/compact", headers={}).status_code == 401
