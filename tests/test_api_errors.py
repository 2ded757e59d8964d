"""Bad input gets a clear JSON error, never a 500, and changes nothing."""

from __future__ import annotations

import pytest

from .conftest import ADMIN_TOKEN, make_config
from .helpers import RedisServer, free_port

VALID_ID = "A" * 22
BAD_ROOMS = ["Shop", "-shop", "a" * 64, "sh%20op", "shop.x", "sh%C3%B6p", "shop%00", "%2e%2e"]
BAD_IDS = ["short", "A" * 21 + "!", "A" * 23, "A" * 300, "%00" * 22, "A" * 21 + "%C3%A9"]


@pytest.fixture
def api(make_app):
    return make_app().test_client()


def assert_json_error(response, status: int, error: str | None = None) -> dict:
    assert response.status_code == status
    assert response.is_json, response.data[:200]
    body = response.json
    assert body["error"] and body["error_description"]
    assert error is None or body["error"] == error
    assert b"Traceback" not in response.data
    return body


def seq(api) -> int:
    return api.get("/api/rooms/shop").json["last_ticket"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/rooms/nope"),
        ("post", "/api/rooms/nope/tickets"),
        ("get", f"/api/rooms/nope/tickets/{VALID_ID}"),
    ],
)
def test_unknown_room_is_404(api, method, path):
    assert_json_error(getattr(api, method)(path), 404, "unknown_room")


def test_unknown_ticket_is_404(api):
    assert_json_error(api.get(f"/api/rooms/shop/tickets/{VALID_ID}"), 404, "unknown_ticket")


@pytest.mark.parametrize("room", BAD_ROOMS)
def test_malformed_room_name_is_400(api, room):
    for response in (
        api.get(f"/api/rooms/{room}"),
        api.post(f"/api/rooms/{room}/tickets"),
        api.get(f"/api/rooms/{room}/tickets/{VALID_ID}"),
    ):
        assert assert_json_error(response, 400, "invalid_request")["field"] == "room"
    assert seq(api) == 0


@pytest.mark.parametrize("ticket", BAD_IDS)
def test_malformed_ticket_id_in_the_path_is_400(api, ticket):
    body = assert_json_error(api.get(f"/api/rooms/shop/tickets/{ticket}"), 400)
    assert body["field"] == "ticket"


@pytest.mark.parametrize(
    "ticket", [5, True, "", "../../etc", ["A" * 22], {"id": "A" * 22}, "A" * 21 + "é", "A" * 1000]
)
def test_malformed_ticket_id_in_the_body_is_400(api, ticket):
    body = assert_json_error(api.post("/api/rooms/shop/tickets", json={"ticket": ticket}), 400)
    assert body["field"] == "ticket"
    assert seq(api) == 0


def test_trailing_newline_is_malformed(api):
    assert api.get("/api/rooms/shop%0A").status_code == 400
    assert api.post("/api/rooms/shop/tickets", json={"ticket": VALID_ID + "\n"}).status_code == 400


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"{nope", "application/json"),
        (b"ticket=abc", "application/x-www-form-urlencoded"),
        (b"[1, 2]", "application/json"),
        (b'"ticket"', "application/json"),
        (b"null", "application/json"),
        (b"\xff\xfe\x00", "application/json"),
        (b"<xml/>", "text/xml"),
    ],
)
def test_non_json_body_is_400(api, data, content_type):
    response = api.post("/api/rooms/shop/tickets", data=data, content_type=content_type)
    assert_json_error(response, 400, "invalid_request")
    assert seq(api) == 0


def test_body_over_16_kb_is_413(api, admin_headers):
    big = {"ticket": "A" * (17 * 1024)}
    assert_json_error(api.post("/api/rooms/shop/tickets", json=big), 413)
    padded = {"admit_per_minute": 1, "pad": "x" * (17 * 1024)}
    response = api.patch("/admin/rooms/shop/settings", json=padded, headers=admin_headers)
    assert_json_error(response, 413)
    room = api.get("/admin/rooms/shop", headers=admin_headers).json
    assert (room["last_ticket"], room["admit_per_minute"], room["overrides"]) == (0, 60, {})


def test_body_just_under_the_limit_is_read(api):
    response = api.post("/api/rooms/shop/tickets", json={"pad": "x" * (15 * 1024)})
    assert response.status_code == 201


def test_unknown_path_and_wrong_method_are_json(api):
    assert_json_error(api.get("/api/nothing-here"), 404)
    assert_json_error(api.delete("/api/rooms/shop"), 405)


# -- Redis unreachable ---------------------------------------------------------

ROOM_CALLS = [
    ("get", "/api/rooms/shop", None),
    ("post", "/api/rooms/shop/tickets", None),
    ("get", f"/api/rooms/shop/tickets/{VALID_ID}", None),
    ("get", "/admin/rooms", None),
    ("patch", "/admin/rooms/shop/settings", {"admit_per_minute": 5}),
    ("post", "/admin/rooms/shop/admit", {"count": 1}),
]


def assert_unavailable(client) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    for method, path, body in ROOM_CALLS:
        response = getattr(client, method)(path, json=body, headers=headers)
        assert_json_error(response, 503, "temporarily_unavailable")
        assert int(response.headers["Retry-After"]) > 0
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200
    # Metrics still answer (the request counters matter most in an outage),
    # say the store is down and leave the room gauges out rather than go stale.
    scrape = client.get("/metrics")
    assert scrape.status_code == 200
    assert "waiting_room_redis_up 0.0" in scrape.text
    assert "waiting_room_waiting{" not in scrape.text


def test_redis_on_a_closed_port_is_503(tmp_path):
    from oidc_adapter.app import create_app

    app = create_app(make_config(f"redis://127.0.0.1:{free_port()}/0", keys_dir=str(tmp_path)))
    assert_unavailable(app.test_client())


def test_redis_going_away_is_503_and_recovers(tmp_path, clock):
    from oidc_adapter.app import create_app

    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        app = create_app(make_config(server.url, keys_dir=str(tmp_path / "keys")), clock=clock)
        client = app.test_client()
        ticket = client.post("/api/rooms/shop/tickets").json["ticket"]
        server.stop()
        assert_unavailable(client)
        server.start()  # no persistence: an empty Redis; the room is published again
        assert client.get("/api/rooms/shop").status_code == 200
        assert client.get(f"/api/rooms/shop/tickets/{ticket}").status_code == 404
        assert client.post("/api/rooms/shop/tickets").json["number"] == 1
    finally:
        server.stop()


def test_a_browser_at_authorize_gets_a_page_when_redis_is_down(tmp_path):
    from oidc_adapter.app import create_app
    from oidc_adapter.keys import KeyStore

    from .oidc_fixtures import REDIRECT, default_clients

    KeyStore(tmp_path).ensure()
    app = create_app(
        make_config(
            f"redis://127.0.0.1:{free_port()}/0",
            clients=default_clients(),
            keys_dir=str(tmp_path),
        )
    )
    params = {
        "client_id": "alb",
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "openid",
        "state": "s",
    }
    response = app.test_client().get("/authorize", query_string=params)
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    assert response.headers["Retry-After"] == "5"
    assert "Nobody loses their place" in response.get_data(as_text=True)
