"""`oidc-adapter check-config` and the config rules behind it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from oidc_adapter.cli import main
from oidc_adapter.config import ConfigError, json_schema, load_config, parse_config
from oidc_adapter.room.settings import parse_setting_changes

DOCS_SCHEMA = Path(__file__).resolve().parent.parent / "docs" / "config.schema.json"

GOOD = """
issuer = "https://wait.example.com"
redis_url = "redis://127.0.0.1:6379/0"
admin_token = "0123456789abcdef0123"

[rooms.shop]
admit_per_minute = 600
max_active = 2000
session_seconds = 1800
waiting_grace_seconds = 120
claim_seconds = 120
mode = "auto"

[clients.shop-alb]
secret = "0123456789abcdef-secret"
redirect_uris = ["https://shop.example.com/oauth2/idpresponse"]
room = "shop"
login_timeout = 240
"""

BAD = """
issuer = "http://wait.example.com"
redis_url = "mysql://db"
admin_token = "short"
bogus = 1

[rooms.shop]
admit_per_minute = -5
max_active = "many"
session_seconds = 10
mode = "fast"
colour = "red"

[rooms.Bad_Name]

[clients.alb]
secret = "tiny"
redirect_uris = ["ftp://shop.example.com/cb"]
room = "nowhere"
login_timeout = 1
require_pkce = "yes"
"""

BAD_FIELDS = [
    "issuer",
    "redis_url",
    "admin_token",
    "bogus",
    "rooms.shop.admit_per_minute",
    "rooms.shop.max_active",
    "rooms.shop.session_seconds",
    "rooms.shop.mode",
    "rooms.shop.colour",
    "rooms.Bad_Name",
    "clients.alb.secret",
    "clients.alb.redirect_uris[0]",
    "clients.alb.room",
    "clients.alb.login_timeout",
    "clients.alb.require_pkce",
]


@pytest.fixture(autouse=True)
def no_env_secrets(monkeypatch):
    for name in ("REDIS_URL", "OIDC_ADAPTER_ADMIN_TOKEN", "OIDC_ADAPTER_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)


def check(tmp_path, text: str):
    path = tmp_path / "adapter.toml"
    path.write_text(text)
    return CliRunner().invoke(main, ["check-config", str(path)])


def test_good_file_passes(tmp_path):
    result = check(tmp_path, GOOD)
    assert result.exit_code == 0, result.output
    assert "1 room(s), 1 client(s)" in result.output


def test_every_problem_is_listed_with_its_field(tmp_path):
    result = check(tmp_path, BAD)
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    listed = [line.split(": ", 1)[0] for line in result.stdout.splitlines()]
    assert sorted(listed) == sorted(BAD_FIELDS)
    assert f"{len(BAD_FIELDS)} problem(s) found" in result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [("issuer = [", "not valid TOML"), (None, "file not found")],
)
def test_unreadable_files_are_reported(tmp_path, text, message):
    path = tmp_path / "adapter.toml"
    if text is not None:
        path.write_text(text)
    result = CliRunner().invoke(main, ["check-config", str(path)])
    assert result.exit_code == 1
    assert result.stdout.startswith("config: ") and message in result.stdout


def test_secrets_may_come_from_the_environment(tmp_path, monkeypatch):
    text = GOOD.replace('secret = "0123456789abcdef-secret"', 'secret_env = "ALB_SECRET"')
    result = check(tmp_path, text)
    assert result.exit_code == 1
    assert "clients.shop-alb.secret_env: environment variable ALB_SECRET is not set" in (
        result.stdout
    )
    monkeypatch.setenv("ALB_SECRET", "0123456789abcdef-from-env")
    assert check(tmp_path, text).exit_code == 0
    path = tmp_path / "adapter.toml"
    assert load_config(path).clients["shop-alb"].secret == "0123456789abcdef-from-env"


def test_environment_overrides_redis_url_and_admin_token(tmp_path, monkeypatch):
    path = tmp_path / "adapter.toml"
    path.write_text(GOOD)
    monkeypatch.setenv("REDIS_URL", "redis://10.0.0.5:6380/1")
    monkeypatch.setenv("OIDC_ADAPTER_ADMIN_TOKEN", "from-the-environment-0123")
    cfg = load_config(path)
    assert cfg.redis_url == "redis://10.0.0.5:6380/1"
    assert cfg.admin_token == "from-the-environment-0123"


def test_room_defaults_and_limits_are_shared_with_the_admin_api():
    cfg = parse_config({"rooms": {"shop": {}}}, env={})
    room = cfg.rooms["shop"]
    assert (room.admit_per_minute, room.max_active, room.mode) == (600, 0, "auto")
    assert room.as_settings() == {
        "admit_per_minute": 600,
        "max_active": 0,
        "session_seconds": 1800,
        "waiting_grace_seconds": 120,
        "claim_seconds": 120,
        "mode": "auto",
        "join_cost": "none",
        "pow_bits": 16,
        "captcha_provider": "none",
        "captcha_secret_env": "",
        "tickets_per_ip_per_minute": 0,
        "opens_at": 0,
        "prequeue_seconds": 900,
        "closes_at": 0,
    }


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "rooms"),
        ({"rooms": {"shop": 5}}, "rooms.shop"),
        ({"rooms": {"shop": {"max_active": True}}}, "rooms.shop.max_active"),
        ({"rooms": {"shop": {}}, "clients": []}, "clients"),
        ({"rooms": {"shop": {}}, "clients": {"a b": {}}}, "clients.a b"),
        ({"rooms": {"shop": {}}, "signing_alg": "HS256"}, "signing_alg"),
        ({"rooms": {"shop": {}}, "room_state_max_age": 61}, "room_state_max_age"),
        ({"rooms": {"shop": {}}, "issuer": 5}, "issuer"),
        ({"rooms": {"shop": {}}, "issuer": "https://x.example.com/?a=1"}, "issuer"),
    ],
)
def test_each_problem_names_its_field(data, field):
    with pytest.raises(ConfigError) as caught:
        parse_config(data, env={})
    assert field in [f for f, _ in caught.value.problems]


def test_wrong_type_for_a_clients_room_is_a_problem_not_a_crash(tmp_path):
    text = GOOD.replace('room = "shop"', 'room = ["shop"]')
    result = check(tmp_path, text)
    assert result.exit_code == 1 and "clients.shop-alb.room:" in result.stdout


def test_a_short_secret_from_the_environment_is_a_problem():
    from oidc_adapter.config import ConfigError, parse_config

    data = {
        "rooms": {"shop": {}},
        "clients": {
            "alb": {
                "secret_env": "ALB_SECRET",
                "redirect_uris": ["https://shop.example.com/oauth2/idpresponse"],
                "room": "shop",
            }
        },
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(data, env={"ALB_SECRET": "short"})
    assert caught.value.problems == [
        ("clients.alb.secret_env", "ALB_SECRET must hold at least 16 characters")
    ]
    assert parse_config(data, env={"ALB_SECRET": "s" * 16}).clients["alb"].secret == "s" * 16


def test_the_documented_json_schema_is_the_models_schema():
    documented = json.loads(DOCS_SCHEMA.read_text(encoding="utf-8"))
    assert documented == json_schema(), (
        "stale: oidc-adapter check-config --schema > docs/config.schema.json"
    )
    rate = documented["$defs"]["RoomConfig"]["properties"]["admit_per_minute"]
    assert (rate["type"], rate["minimum"], rate["maximum"], rate["default"]) == (
        "integer",
        0,
        1_000_000,
        600,
    )
    assert documented["required"] == ["rooms"]


def test_a_live_change_is_checked_by_the_same_rules_as_the_file():
    bad = {"claim_seconds": 1, "mode": "fast", "max_active": True}
    changes, live = parse_setting_changes(bad)
    with pytest.raises(ConfigError) as caught:
        parse_config({"rooms": {"shop": bad}}, env={})
    assert dict(caught.value.problems) == {f"rooms.shop.{f}": m for f, m in live}
    assert len(live) == 3

    good = {"claim_seconds": 300, "mode": "paused"}
    assert parse_setting_changes(good) == (good, [])
    settings = parse_config({"rooms": {"shop": good}}, env={}).rooms["shop"].as_settings()
    assert settings.items() >= good.items()


def test_check_config_prints_the_schema_and_needs_a_file_otherwise():
    printed = CliRunner().invoke(main, ["check-config", "--schema"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout) == json.loads(DOCS_SCHEMA.read_text(encoding="utf-8"))
    missing = CliRunner().invoke(main, ["check-config"])
    assert missing.exit_code == 2 and "give a config FILE" in missing.output
