"""CORS on the room JSON API: only for configured origins, never credentials."""

import pytest

SHOP = "https://shop.example.com"


@pytest.fixture
def client(make_app):
    return make_app(cors_origins=[SHOP]).test_client()


def test_a_configured_origin_may_read_the_room_api(client):
    answer = client.get("/api/rooms/shop", headers={"Origin": SHOP})
    assert answer.headers["Access-Control-Allow-Origin"] == SHOP
    assert "Origin" in answer.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in answer.headers
    taken = client.post("/api/rooms/shop/tickets", headers={"Origin": SHOP})
    assert taken.status_code == 201
    assert taken.headers["Access-Control-Allow-Origin"] == SHOP


def test_a_preflight_allows_the_ticket_secret_header(client):
    answer = client.options(
        "/api/rooms/shop/tickets/" + "A" * 22 + "/token",
        headers={
            "Origin": SHOP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == SHOP
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in answer.headers["Access-Control-Allow-Headers"]


def test_other_origins_and_other_paths_get_no_cors_headers(client):
    other = client.get("/api/rooms/shop", headers={"Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in other.headers
    admin = client.get("/admin/rooms", headers={"Origin": SHOP})
    assert "Access-Control-Allow-Origin" not in admin.headers


def test_without_configured_origins_there_is_no_cors(make_app):
    answer = make_app().test_client().get("/api/rooms/shop", headers={"Origin": SHOP})
    assert "Access-Control-Allow-Origin" not in answer.headers


@pytest.mark.parametrize(
    "origins",
    [["https://shop.example.com/"], ["http://shop.example.com"], ["shop.example.com"], "x"],
)
def test_bad_origins_are_config_problems(origins):
    from oidc_adapter.config import ConfigError, parse_config

    with pytest.raises(ConfigError) as caught:
        parse_config({"rooms": {"shop": {}}, "cors_origins": origins}, env={})
    assert caught.value.problems[0][0].startswith("cors_origins")
