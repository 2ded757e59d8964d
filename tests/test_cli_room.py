"""`oidc-adapter room ...` against the throwaway Redis."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from oidc_adapter.cli import main
from oidc_adapter.room.engine import RoomClosed
from oidc_adapter.room.keyspace import room_key

from .queue_support import make_engine

SHOP = {"admit_per_minute": 0, "max_active": 0}


@pytest.fixture
def config_file(tmp_path, redis_server, monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("OIDC_ADAPTER_CONFIG", raising=False)
    path = tmp_path / "adapter.toml"
    path.write_text(
        f'redis_url = "{redis_server.url}"\n'
        'issuer = "http://localhost:8000"\n'
        "[rooms.shop]\nadmit_per_minute = 0\nmax_active = 0\n"
        '[rooms.calm]\nmode = "queue_all"\n'
    )
    return str(path)


@pytest.fixture
def engine(redis_client):
    """Shares the CLI's clock (Redis server time) and settings."""
    return make_engine(redis_client, None, **SHOP)


@pytest.fixture
def room(config_file):
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(main, ["room", args[0], "--config", config_file, *args[1:]])

    return run


def test_list_and_show(room, engine):
    for _ in range(3):
        engine.take("shop")
    listed = room("list")
    assert listed.exit_code == 0, listed.output
    rooms = {r["room"]: r for r in json.loads(listed.stdout)}
    assert set(rooms) == {"shop", "calm"} and rooms["shop"]["waiting"] == 3
    shown = json.loads(room("show", "shop").stdout)
    assert shown["last_ticket"] == 3 and shown["overrides"] == {}
    assert shown["settings"]["admit_per_minute"] == 0


def test_set_changes_live_settings_and_clears_them(room, engine):
    result = room("set", "shop", "max_active=7", "mode=queue_all")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["max_active"] == 7
    assert engine.overrides("shop") == {"max_active": "7", "mode": "queue_all"}
    assert room("set", "shop", "max_active=").exit_code == 0
    assert engine.overrides("shop") == {"mode": "queue_all"}
    assert room("set", "shop", "claim_seconds=300").exit_code == 0
    assert room("set", "shop", "claim_seconds=", "mode=").exit_code == 0
    assert engine.overrides("shop") == {}


@pytest.mark.parametrize(
    ("assignment", "field"),
    [
        ("max_active=-1", "max_active"),
        ("admit_per_minute=fast", "admit_per_minute"),
        ("mode=sideways", "mode"),
        ("speed=3", "speed"),
        ("speed=", "speed"),
    ],
)
def test_bad_set_names_the_field_and_changes_nothing(room, engine, assignment, field):
    engine.configure("shop", {"max_active": 9})
    result = room("set", "shop", "admit_per_minute=5", assignment)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{field}: ")
    assert engine.overrides("shop") == {"max_active": "9"}


def test_set_needs_key_value_pairs(room, engine):
    result = room("set", "shop", "max_active")
    assert result.exit_code == 2 and "KEY=VALUE" in result.output
    assert engine.overrides("shop") == {}


def test_admit_serves_the_next_in_line(room, engine):
    tickets = [engine.take("shop") for _ in range(5)]
    result = room("admit", "shop", "3")
    assert (result.exit_code, result.stdout) == (0, "admitted 3 of 3\n")
    assert [engine.status("shop", t.ticket).state for t in tickets] == ["served"] * 3 + [
        "waiting"
    ] * 2
    assert room("admit", "shop", "9").stdout == "admitted 2 of 9\n"


@pytest.mark.parametrize("count", ["0", "-2", "100001", "three"])
def test_bad_admit_count_admits_nobody(room, engine, count):
    engine.take("shop")
    assert room("admit", "shop", count).exit_code == 2
    assert engine.state("shop").served == 0


def test_pause_close_and_resume(room, engine):
    ticket = engine.take("shop")
    assert room("pause", "shop").stdout == "shop: mode paused\n"
    assert room("close", "shop").stdout == "shop: mode closed\n"
    with pytest.raises(RoomClosed):
        engine.take("shop")
    assert engine.take("shop", existing=ticket.ticket).number == 1
    assert room("resume", "shop").stdout == "shop: mode auto\n"
    assert room("pause", "calm").exit_code == 0
    assert room("resume", "calm").stdout == "calm: mode queue_all\n"
    assert engine.take("shop").number == 2


def test_revoke(room, engine):
    first, second = engine.take("shop"), engine.take("shop")
    engine.admit("shop", 1)
    engine.claim("shop", first.ticket)
    result = room("revoke", "shop", first.ticket)
    assert (result.exit_code, result.stdout) == (0, f"{first.ticket}: revoked\n")
    assert engine.state("shop").active == 0
    unknown = room("revoke", "shop", "A" * 22)
    assert unknown.exit_code == 1 and "no ticket" in unknown.stderr
    dashed = room("revoke", "shop", "-" + "A" * 21)  # an id may begin with "-"
    assert dashed.exit_code == 1 and "no ticket '-AAA" in dashed.stderr
    assert engine.status("shop", second.ticket).state == "waiting"


def test_reset_needs_yes(room, engine):
    for _ in range(4):
        engine.take("shop")
    engine.configure("shop", {"max_active": 3})
    refused = room("reset", "shop")
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    assert engine.state("shop").seq == 4
    result = room("reset", "shop", "--yes")
    assert (result.exit_code, result.stdout) == (0, "shop: reset\n")
    room_view = engine.state("shop")
    assert (room_view.seq, room_view.waiting) == (0, 0)
    assert engine.overrides("shop") == {"max_active": "3"}


@pytest.mark.parametrize(
    "args",
    [("show", "nope"), ("pause", "nope"), ("admit", "nope", "1"), ("reset", "nope", "--yes")],
)
def test_unknown_room_is_refused(room, args):
    result = room(*args)
    assert result.exit_code == 2 and "no room 'nope'" in result.output


def test_bad_config_lists_its_problems(tmp_path, monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    path = tmp_path / "bad.toml"
    path.write_text('redis_url = "mysql://x"\n[rooms.shop]\nmode = "fast"\n')
    result = CliRunner().invoke(main, ["room", "list", "--config", str(path)])
    assert result.exit_code == 2
    assert "redis_url: " in result.stderr and "rooms.shop.mode: " in result.stderr


def test_compact_reports_what_it_forgot(room, engine, redis_client):
    tickets = [engine.take("shop") for _ in range(3)]
    # An id from before ids carried their number: the only kind with a record.
    redis_client.hset("wr:{shop}:ids", "legacy-ticket-000000001", tickets[0].number)
    engine.finish("shop", "legacy-ticket-000000001", "done")
    result = room("compact", "shop", "--older-than", "0")
    assert (result.exit_code, result.stdout) == (0, "shop: forgot 1 ended ticket(s)\n")
    assert engine.state("shop").waiting == 2


def test_audit_recomputes_the_shuffle_and_checks_the_commitment(room, engine, redis_client):
    assert room("audit", "shop").exit_code == 2  # no timed sale: nothing to check
    now = int(redis_client.time()[0])
    opening = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3600))
    assert room("set", "shop", f"opens_at={opening}", "prequeue_seconds=7200").exit_code == 0
    tickets = [engine.take("shop") for _ in range(25)]
    assert room("audit", "shop").exit_code == 2  # committed, but the seed is still secret
    assert room("set", "shop", f"opens_at={now - 1}").exit_code == 0  # open now
    audit = room("audit", "shop", "--order")
    assert audit.exit_code == 0, audit.output
    report = json.loads(audit.stdout)
    assert report["commitment_ok"] and report["matches_room"]
    assert report["prequeue_size"] == len(tickets)
    assert report["order"] == engine.prequeue_order("shop")
    assert sorted(report["order"]) == [t.number for t in tickets]
    redis_client.hset(room_key("shop", "state"), "commitment", "0" * 64)
    tampered = room("audit", "shop")
    assert tampered.exit_code == 1 and not json.loads(tampered.stdout)["commitment_ok"]
