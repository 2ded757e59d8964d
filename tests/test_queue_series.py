"""The operators' time series: written by the room scripts that already run,
10 s buckets of the counters, an hour kept, and the real waits of served
tickets; read back by `room.series` into chart values."""

from __future__ import annotations

from oidc_adapter.room.keyspace import room_key
from oidc_adapter.room.series import FIELDS, Recorded, chart_data, percentile, read_recorded
from oidc_adapter.room.timing import (
    SERIES_BUCKET_SECONDS,
    SERIES_BUCKETS_KEPT,
    WAITS_KEPT,
    WAITS_PER_BUCKET,
)

from .queue_support import make_engine


def _bucket(clock) -> int:
    return clock() // 1000 // SERIES_BUCKET_SECONDS


def test_a_bucket_is_written_once_it_closes_and_read_live_while_open(redis_client, clock):
    engine = make_engine(redis_client, clock, admit_per_minute=0, max_active=0)
    key = room_key("shop", "series")
    for _ in range(3):
        engine.take("shop")
    assert redis_client.hkeys(key) == [str(_bucket(clock) - 1)]  # the open one is not written
    recorded = read_recorded(redis_client, engine.state("shop"))
    assert recorded.buckets == {
        _bucket(clock) - 1: dict.fromkeys(FIELDS, 0),  # the baseline before the first call
        _bucket(clock): {
            "seq": 3,
            "served": 0,
            "admitted": 0,
            "abandoned": 0,
            "expired": 0,
            "waiting": 3,
            "active": 0,
        },
    }
    clock.advance(SERIES_BUCKET_SECONDS)
    view, admitted = engine.admit("shop", 2)
    assert admitted == 2
    assert redis_client.hget(key, _bucket(clock) - 1) == "3 0 0 0 0 3 0"  # as it closed
    row = read_recorded(redis_client, view).buckets[_bucket(clock)]
    assert (row["served"], row["waiting"], row["active"]) == (2, 1, 2)


def test_calls_in_the_same_bucket_write_nothing(redis_client, clock):
    engine = make_engine(redis_client, clock, admit_per_minute=0, max_active=0)
    engine.take("shop")
    key = room_key("shop", "series")
    redis_client.hset(key, _bucket(clock), "9 9 9 9 9 9 9")
    clock.advance(SERIES_BUCKET_SECONDS / 2)  # the room's clock moves, its counters do not
    engine.state("shop")
    engine.take("shop")  # nor when they do
    assert redis_client.hget(key, _bucket(clock)) == "9 9 9 9 9 9 9"
    clock.advance(SERIES_BUCKET_SECONDS / 2)
    engine.state("shop")  # a new bucket opens even when nothing changed
    assert redis_client.hget(key, _bucket(clock) - 1) == "2 0 0 0 0 2 0"
    assert redis_client.hget(key, _bucket(clock)) is None


def test_only_the_last_hour_of_buckets_is_kept(redis_client, clock):
    engine = make_engine(redis_client, clock, admit_per_minute=0, max_active=0)
    key = room_key("shop", "series")
    first = _bucket(clock)
    for _ in range(SERIES_BUCKETS_KEPT + 40):
        engine.take("shop")
        clock.advance(SERIES_BUCKET_SECONDS)
    engine.state("shop")
    buckets = sorted(int(b) for b in redis_client.hkeys(key))
    # The kept hour, less the open bucket, which is read from the room's state.
    assert len(buckets) == SERIES_BUCKETS_KEPT - 1
    assert buckets[-1] == _bucket(clock) - 1 and buckets[0] > first + 40
    clock.advance(SERIES_BUCKET_SECONDS * SERIES_BUCKETS_KEPT * 2)  # a long silence
    view = engine.state("shop")
    assert [int(b) for b in redis_client.hkeys(key)] == [_bucket(clock) - 1]
    baseline = read_recorded(redis_client, view).buckets[_bucket(clock) - 1]
    assert baseline["seq"] == view.seq == 400 and baseline["abandoned"] < view.abandoned


def test_served_tickets_leave_their_real_wait(redis_client, clock):
    engine = make_engine(redis_client, clock, admit_per_minute=0, max_active=0)
    engine.take("shop")
    clock.advance(30)
    engine.take("shop")
    clock.advance(15)
    engine.admit("shop", 1)
    engine.admit("shop", 1)
    served_at = clock() // 1000
    assert read_recorded(redis_client, engine.state("shop")).waits == [
        (served_at, 15),
        (served_at, 45),
    ]
    for _ in range(WAITS_PER_BUCKET):  # the bucket's first few samples only
        engine.take("shop")
        engine.admit("shop", 1)
    waits = read_recorded(redis_client, engine.state("shop")).waits
    assert len(waits) == WAITS_PER_BUCKET and waits[-2:] == [(served_at, 15), (served_at, 45)]


def test_the_wait_samples_span_the_hour_in_bounded_memory(redis_client, clock):
    engine = make_engine(redis_client, clock, admit_per_minute=0, max_active=0)
    for _ in range(SERIES_BUCKETS_KEPT + 3):
        for _ in range(WAITS_PER_BUCKET + 1):
            engine.take("shop")
            engine.admit("shop", 1)
        clock.advance(SERIES_BUCKET_SECONDS)
    waits = read_recorded(redis_client, engine.state("shop")).waits
    assert len(waits) == WAITS_KEPT == WAITS_PER_BUCKET * SERIES_BUCKETS_KEPT
    span = waits[0][0] - waits[-1][0]
    assert span == (SERIES_BUCKETS_KEPT - 1) * SERIES_BUCKET_SECONDS


def test_reset_forgets_the_series(redis_client, clock):
    engine = make_engine(redis_client, clock, admit_per_minute=0, max_active=0)
    engine.take("shop")
    engine.admit("shop", 1)
    clock.advance(SERIES_BUCKET_SECONDS)
    recorded = read_recorded(redis_client, engine.reset("shop"))
    assert recorded.waits == []
    assert list(recorded.buckets.values()) == [dict.fromkeys(FIELDS, 0)] * 2


def test_a_rush_charts_as_rates_gauges_and_waits(redis_client, clock):
    engine = make_engine(redis_client, clock, admit_per_minute=60, max_active=0)
    start_s = clock() // 1000
    tickets = [engine.take("shop") for _ in range(100)]
    for _ in range(12):  # two minutes; everyone polls as the page does
        clock.advance(SERIES_BUCKET_SECONDS)
        for ticket in tickets:
            engine.status("shop", ticket.ticket)
    now_s = clock() // 1000
    data = chart_data(read_recorded(redis_client, engine.state("shop")), now_s)
    series = data["series"]
    assert data["start"] == start_s // SERIES_BUCKET_SECONDS * SERIES_BUCKET_SECONDS
    assert len(series["waiting"]) == 13
    assert series["waiting"][0] >= 80 and series["waiting"][-1] == 0  # a bucket is banked
    assert series["arrivals_per_minute"][0] == 600 and series["arrivals_per_minute"][-1] == 0
    assert 50 <= series["admissions_per_minute"][6] <= 70  # the configured 60 a minute
    assert series["newcomer_wait_seconds"][3] is not None
    waits = data["served_waits"]
    assert waits["samples"] > 0 and waits["p50_seconds"] <= waits["p90_seconds"] <= 120


def test_gaps_carry_the_last_values_over():
    recorded = Recorded(
        {
            100: dict(seq=5, served=0, admitted=0, abandoned=0, expired=0, waiting=5, active=0),
            106: dict(seq=11, served=0, admitted=0, abandoned=0, expired=0, waiting=11, active=0),
        },
        [],
    )
    data = chart_data(recorded, 106 * SERIES_BUCKET_SECONDS + 3)
    assert data["start"] == 101 * SERIES_BUCKET_SECONDS  # bucket 100 is the baseline
    assert data["series"]["waiting"] == [5, 5, 5, 5, 5, 11]
    assert data["series"]["arrivals_per_minute"][-1] == 6
    assert data["series"]["wait_p50_seconds"] == [None] * 6
    assert data["served_waits"] == {"samples": 0, "p50_seconds": None, "p90_seconds": None}


def test_percentile_is_nearest_rank():
    assert percentile([], 0.5) is None
    assert percentile([5, 1, 3, 2, 4], 0.5) == 3
    assert percentile(list(range(1, 11)), 0.9) == 9
