"""The room-layer parts of the door, on one server and on a Redis Cluster:
the per-source token bucket and the live join rules."""

from __future__ import annotations

from oidc_adapter.room.join_rules import JoinRules, read_join_rules
from oidc_adapter.room.keyspace import room_key
from oidc_adapter.room.source_limit import SourceLimit, bucket_key

from .queue_support import make_engine


def test_the_bucket_spends_refills_and_says_how_long_to_wait(redis_client, clock):
    limit = SourceLimit(redis_client, clock)
    assert [limit.spend("shop", "203.0.113.7", 3) for _ in range(3)] == [0, 0, 0]
    assert limit.spend("shop", "203.0.113.7", 3) == 20_000  # 3 per minute: one per 20 s
    assert limit.spend("hall", "203.0.113.7", 3) == 0  # each room has its own buckets
    clock.advance(5)
    assert limit.spend("shop", "203.0.113.7", 3) == 15_000  # a refused try costs nothing
    clock.advance(15)
    assert limit.spend("shop", "203.0.113.7", 3) == 0
    key = bucket_key("shop", "203.0.113.7")
    assert key.startswith("wr:{shop}:")  # the room's hash tag: its cluster slot
    assert 0 < redis_client.pttl(key) <= 60_000  # forgotten once full again


def test_join_rules_read_overrides_over_the_config_and_survive_a_lost_config(redis_client, clock):
    engine = make_engine(redis_client, clock, join_cost="pow", pow_bits=12)
    configured = engine.rooms["shop"]
    assert read_join_rules(redis_client, "shop", configured) == JoinRules("pow", 12, "none", "", 0)
    engine.configure("shop", {"pow_bits": 20, "tickets_per_ip_per_minute": 5})
    rules = read_join_rules(redis_client, "shop", configured)
    assert (rules.pow_bits, rules.tickets_per_ip_per_minute, rules.guarded) == (20, 5, True)
    redis_client.delete(room_key("shop", "config"), room_key("shop", "overrides"))
    assert read_join_rules(redis_client, "shop", configured) == JoinRules("pow", 12, "none", "", 0)
    assert not JoinRules("none", 16, "none", "", 0).guarded
