"""Time granularity shared by the Lua scripts and the Python that reads their output."""

from __future__ import annotations

#: Heartbeats are logged per granule: abandonment is seen at most this late.
HEARTBEAT_GRANULE_SECONDS = 5
#: Admissions are counted per bucket of this many seconds...
RATE_BUCKET_SECONDS = 10
#: ...and this many buckets are kept, which bounds the estimate's window.
RATE_BUCKETS_KEPT = 30

#: The operators' charts (room/series.py): the room's counters per bucket of
#: this many seconds, this many buckets kept (an hour)...
SERIES_BUCKET_SECONDS = 10
SERIES_BUCKETS_KEPT = 360
#: ...and the real waits of served tickets: the first few served in each
#: bucket, so the samples span the same hour whatever the rate.
WAITS_PER_BUCKET = 5
WAITS_KEPT = WAITS_PER_BUCKET * SERIES_BUCKETS_KEPT

#: The poll hint (`heartbeat_seconds`) is the shorter of the grace and claim
#: windows divided by this, so a client that follows it learns of its turn with
#: three more polls' worth of time left to claim it (or to retry a lost beat).
POLLS_PER_WINDOW = 4
#: ...within these bounds (grace and claim are at least 15 s, so the lower one
#: never shortens a window below four polls).
POLL_MIN_SECONDS = 3
POLL_MAX_SECONDS = 30
#: A waiting ticket whose last beat is this many polls old when its turn comes
#: is not served but abandoned: its holder missed three polls in a row.
OVERDUE_POLLS = 4
#: Estimates follow how long sessions really last (early logouts included),
#: as a running mean over about this many sessions.
SESSION_MEAN_OVER = 32
