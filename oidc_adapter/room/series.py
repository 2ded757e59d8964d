"""The room's last hour for the operators' charts, from what the scripts record.

Every room script ends in `save_state`: the first call in a new 10 s bucket
writes the room's counters as the previous bucket ended into the `series`
hash, and a call that served someone writes the real wait of the last ticket
it served into the capped `waits` list (see `_room.lua`). So the charts cost
the queue no extra round trip; this module reads both keys in one pipelined
round trip, takes the bucket still open from the room's state as a script
just returned it, and turns them into per-bucket values: gauges as recorded,
rates as differences of the cumulative counters over the trailing minute,
and wait percentiles over the trailing five minutes of samples.

A bucket nobody called in has no entry: nothing changed then (the counters
move only inside a call), so the previous bucket's values carry over.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any

import redis

from .keyspace import room_key
from .results import RoomView
from .timing import SERIES_BUCKET_SECONDS, SERIES_BUCKETS_KEPT

#: The packed fields of one bucket, in the order the scripts write them.
FIELDS = ("seq", "served", "admitted", "abandoned", "expired", "waiting", "active")
#: Per-minute rates are counted over this many trailing buckets (a minute)...
MINUTE = 60 // SERIES_BUCKET_SECONDS
#: ...the newcomer's wait uses the admission pace of the last five minutes,
#: and so do the wait percentiles of served tickets.
PACE_BUCKETS = 5 * MINUTE
#: Per-minute rates: chart name -> cumulative counter.
RATES = {
    "arrivals_per_minute": "seq",
    "admissions_per_minute": "served",
    "abandoned_per_minute": "abandoned",
    "expired_per_minute": "expired",
}


@dataclass(frozen=True)
class Recorded:
    """One room's raw record: bucket number -> counters, and (served at s, waited s)."""

    buckets: dict[int, dict[str, int]]
    waits: list[tuple[int, int]]


def read_recorded(client: redis.Redis, now: RoomView) -> Recorded:
    """The room's record, with `now` (the room as a script call just left it)
    as the values of its bucket, which no call writes while it is open."""
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(room_key(now.name, "series"))
    pipe.lrange(room_key(now.name, "waits"), 0, -1)
    raw_buckets, raw_waits = pipe.execute()
    buckets = {
        int(b): dict(zip(FIELDS, (int(float(v)) for v in packed.split()), strict=True))
        for b, packed in raw_buckets.items()
    }
    buckets[now.now_ms // 1000 // SERIES_BUCKET_SECONDS] = {f: getattr(now, f) for f in FIELDS}
    waits = [(int(at), int(waited)) for at, _, waited in (w.partition(":") for w in raw_waits)]
    return Recorded(buckets, waits)


def percentile(values: list[int], share: float) -> int | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _filled(recorded: Recorded, now_s: int) -> tuple[int, list[dict[str, int]]]:
    """The first bucket charted, and the counters of the bucket before it (the
    baseline of its rates) and of every bucket from it to now, gaps carried over."""
    now_b = now_s // SERIES_BUCKET_SECONDS
    known = sorted(b for b in recorded.buckets if b <= now_b)
    if not known:
        return now_b, []
    start = min(now_b, max(now_b - SERIES_BUCKETS_KEPT + 1, known[0] + 1))
    current = recorded.buckets[known[0]]
    rows = []
    for b in known:
        if b >= start:
            break
        current = recorded.buckets[b]
    for b in range(start - 1, now_b + 1):
        current = recorded.buckets.get(b, current)
        rows.append(current)
    return start, rows


def _wait_percentiles(
    waits: list[tuple[int, int]], start: int, count: int
) -> dict[str, list[int | None]]:
    """p50/p90 of the waits of tickets served in the five minutes up to each bucket."""
    ordered = sorted(waits)
    times = [at for at, _ in ordered]
    p50: list[int | None] = []
    p90: list[int | None] = []
    span = PACE_BUCKETS * SERIES_BUCKET_SECONDS
    for i in range(count):
        end = (start + i + 1) * SERIES_BUCKET_SECONDS
        inside = sorted(
            w for _, w in ordered[bisect_left(times, end - span) : bisect_left(times, end)]
        )
        p50.append(percentile(inside, 0.5))
        p90.append(percentile(inside, 0.9))
    return {"wait_p50_seconds": p50, "wait_p90_seconds": p90}


def _newcomer_wait(rows: list[dict[str, int]], i: int) -> int | None:
    """The line drained at the pace of the last five minutes: how long the
    people waiting then would take to be served. None when nobody was."""
    back = rows[max(0, i - PACE_BUCKETS)]
    served = rows[i]["served"] - back["served"]
    seconds = min(i, PACE_BUCKETS) * SERIES_BUCKET_SECONDS
    if served <= 0 or seconds == 0:
        return None
    return round(rows[i]["waiting"] * seconds / served)


def chart_data(recorded: Recorded, now_s: int) -> dict[str, Any]:
    """The dashboard's charts over the last hour, one value per 10 s bucket."""
    start, rows = _filled(recorded, now_s)
    charted = range(1, len(rows))
    series: dict[str, list[Any]] = {
        "waiting": [rows[i]["waiting"] for i in charted],
        "active": [rows[i]["active"] for i in charted],
    }
    for name, counter in RATES.items():
        series[name] = [
            (rows[i][counter] - rows[max(0, i - MINUTE)][counter]) * MINUTE / min(i, MINUTE)
            for i in charted
        ]
    series["newcomer_wait_seconds"] = [_newcomer_wait(rows, i) for i in charted]
    series.update(_wait_percentiles(recorded.waits, start, len(charted)))
    hour = now_s - SERIES_BUCKETS_KEPT * SERIES_BUCKET_SECONDS
    recent = [waited for at, waited in recorded.waits if at > hour]
    return {
        "bucket_seconds": SERIES_BUCKET_SECONDS,
        "start": start * SERIES_BUCKET_SECONDS,
        "series": series,
        "served_waits": {
            "samples": len(recent),
            "p50_seconds": percentile(recent, 0.5),
            "p90_seconds": percentile(recent, 0.9),
        },
    }
