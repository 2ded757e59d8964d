"""Python and the Lua scripts agree on state numbers, key layout and time granules.

The scripts get these from a header generated from the Python tables; these
tests check what the scripts really store against those tables.
"""

from __future__ import annotations

import re
from importlib import resources

from oidc_adapter.room.keyspace import ROOM_KEYS, room_key, room_keys
from oidc_adapter.room.library import (
    KEY_NAMES,
    SCRIPT_NAMES,
    TIMING_NAMES,
    library_source,
    lua_header,
    script_source,
)
from oidc_adapter.room.states import NUMBERS
from oidc_adapter.room.timing import (
    HEARTBEAT_GRANULE_SECONDS,
    RATE_BUCKET_SECONDS,
    RATE_BUCKETS_KEPT,
)

from .queue_support import make_engine, pass_time, state_bytes

GRACE = 60


def test_every_state_is_stored_as_its_number(redis_client, clock):
    engine = make_engine(
        redis_client,
        clock,
        admit_per_minute=0,
        waiting_grace_seconds=GRACE,
        claim_seconds=30,
        session_seconds=60,
    )
    t = {name: engine.take("shop").ticket for name in ("a", "b", "c", "d", "e", "f", "g")}
    seen = {}

    def record(view) -> None:
        seen[view.state] = state_bytes(redis_client)[view.number]

    record(engine.status("shop", t["g"]))  # waiting
    engine.admit("shop", 6)
    record(engine.status("shop", t["a"]))  # served
    record(engine.claim("shop", t["b"]))  # admitted
    record(engine.finish("shop", t["c"], "done"))
    record(engine.finish("shop", t["d"], "revoked"))
    pass_time(engine, clock, 31)
    record(engine.status("shop", t["e"]))  # expired: served, never claimed
    pass_time(engine, clock, GRACE + HEARTBEAT_GRANULE_SECONDS)
    record(engine.status("shop", t["g"], heartbeat=False))  # abandoned
    assert seen == NUMBERS


def test_the_scripts_touch_only_the_keys_of_the_layout(redis_client, clock):
    engine = make_engine(redis_client, clock, admit_per_minute=60, max_active=5)
    for _ in range(10):
        engine.take("shop")
        clock.advance(5)
    engine.claim("shop", engine.take("shop").ticket)
    engine.configure("shop", {"admit_per_minute": 120})
    used = set(redis_client.keys("wr:{shop}:*"))
    assert used and used <= set(room_keys("shop"))
    assert len(ROOM_KEYS) == len({suffix for _, suffix in ROOM_KEYS})


def test_admissions_are_counted_in_rate_buckets_of_the_python_width(redis_client, clock):
    engine = make_engine(redis_client, clock, admit_per_minute=0)
    engine.take("shop")
    view, _ = engine.admit("shop", 1)
    assert view.rate_buckets == {clock.ms // 1000 // RATE_BUCKET_SECONDS: 1}


def test_no_script_defines_the_shared_constants_itself():
    header = lua_header()
    lua = resources.files("oidc_adapter.room") / "lua"
    shared = [*(n.upper() for n in NUMBERS), "STATE_NAMES", *(n for n, _ in TIMING_NAMES)]
    for path in lua.iterdir():
        text = path.read_text()
        for name in shared:
            assert not re.search(rf"local\s+{name}\b", text), f"{path.name} defines {name}"
    assert KEY_NAMES == tuple(f"K_{name.upper()}" for name, _ in ROOM_KEYS)
    assert f"local {', '.join(KEY_NAMES)}\n" in header
    assert header in library_source()
    assert all(lua_header(functions=False) in script_source(name) for name in SCRIPT_NAMES)


def test_a_room_stored_field_by_field_is_read_and_packed(redis_client, clock):
    """Rooms from before the packed counters (even before the counters' rename)
    keep every place: the old layout is read, and the next save packs it."""
    engine = make_engine(redis_client, clock, admit_per_minute=0)
    first, second = engine.take("shop"), engine.take("shop")
    engine.admit("shop", 1)
    engine.claim("shop", first.ticket)
    view = engine.state("shop")
    state_key = room_key("shop", "state")
    redis_client.hdel(state_key, "c")
    # The layout two versions back: counters one per field, some abbreviated.
    redis_client.hset(
        state_key,
        mapping={
            "seq": view.seq,
            "cur": view.cursor,
            "waiting": view.waiting,
            "pending": view.pending,
            "tts": view.now_ms,
            "served": view.served,
            "admitted": view.admitted,
        },
    )
    engine.sync_settings()
    assert redis_client.hget(state_key, "cur") is None
    after = engine.state("shop")
    assert (after.seq, after.cursor, after.waiting, after.active) == (2, 1, 1, 1)
    assert engine.status("shop", second.ticket).position == 1
    stored = redis_client.hkeys(state_key)
    assert "c" in stored and not {"seq", "cursor", "waiting", "tokens_at_ms"} & set(stored)
    assert engine.take("shop").number == 3


def test_an_upgrade_moves_the_rate_history_from_its_hash_into_the_ring(redis_client, clock):
    """Rooms from before the ring kept admissions per bucket in a hash: start-up
    moves the buckets still inside the window, and the next admission in the
    current bucket adds to its count."""
    engine = make_engine(redis_client, clock, admit_per_minute=0)
    engine.take("shop")
    engine.admit("shop", 1)
    now = clock.ms // 1000 // RATE_BUCKET_SECONDS
    # The layout one version back: the hash, and no ring.
    redis_client.delete(room_key("shop", "rate"))
    old = {now - RATE_BUCKETS_KEPT: 5, now - 5: 3, now: 2}
    redis_client.hset(room_key("shop", "rate_hash"), mapping=old)
    engine.sync_settings()
    assert not redis_client.exists(room_key("shop", "rate_hash"))
    assert engine.state("shop").rate_buckets == {now - 5: 3, now: 2}
    engine.take("shop")
    view, _ = engine.admit("shop", 1)
    assert view.rate_buckets == {now - 5: 3, now: 3}


def test_a_reset_leaves_only_the_settings_and_a_fresh_state(redis_client, clock):
    engine = make_engine(redis_client, clock, admit_per_minute=0, max_active=1)
    first = engine.take("shop")
    engine.take("shop")
    engine.admit("shop", 1)
    engine.claim("shop", first.ticket)
    engine.configure("shop", {"admit_per_minute": 60})
    redis_client.hset(room_key("shop", "rate_hash"), "1", "1")  # left by an older worker
    clock.advance(60)
    engine.reset("shop")
    kept = {room_key("shop", name) for name in ("config", "overrides", "state", "series")}
    assert set(redis_client.keys("wr:{shop}:*")) <= kept
    assert engine.take("shop").number == 1
