"""Per-worker copies of what every caller of a room reads alike, kept at most
one second: the public room state, and the room's rules for newcomers.

The room state is identical for every caller and already served as
`Cache-Control: public, max-age=N`, so any CDN or browser may reuse it for
N seconds; reusing it inside a worker for <= 1 s changes nothing anyone can
observe and spares Redis the crowd's polling. The join rules (proof of work,
CAPTCHA, per-source limit) change only when an operator changes them, so a
change reaches every worker within a second and an arrival costs one round
trip to Redis, not two. Neither is a source of truth for a ticket: admission,
positions and tokens are always decided by the scripts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

MAX_SECONDS = 1.0
T = TypeVar("T")


class SnapshotCache(Generic[T]):
    def __init__(self, max_seconds: float = MAX_SECONDS):
        self.max_seconds = max_seconds
        self._items: dict[str, tuple[float, T]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, build: Callable[[], T]) -> T:
        now = time.monotonic()
        hit = self._items.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = build()
        with self._lock:
            self._items[key] = (now + self.max_seconds, value)
        return value
