"""Time granularity shared by the Lua scripts and the Python that reads their output."""

from __future__ import annotations

#: Heartbeats are logged per granule: abandonment is seen at most this late.
HEARTBEAT_GRANULE_SECONDS = 5
#: Admissions are counted per bucket of this many seconds...
RATE_BUCKET_SECONDS = 10
#: ...and this many buckets are kept, which bounds the estimate's window.
RATE_BUCKETS_KEPT = 30
