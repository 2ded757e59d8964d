"""A per-worker copy of the public room state, kept at most one second.

The room state is identical for every caller and already served as
`Cache-Control: public, max-age=N`, so any CDN or browser may reuse it for
N seconds; reusing it inside a worker for <= 1 s changes nothing anyone can
observe and spares Redis the crowd's polling. It is a cache, never a source
of truth: no decision (admission, position, tokens) ever reads it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

MAX_SECONDS = 1.0


class SnapshotCache:
    def __init__(self, max_seconds: float = MAX_SECONDS):
        self.max_seconds = max_seconds
        self._items: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, build: Callable[[], bytes]) -> bytes:
        now = time.monotonic()
        hit = self._items.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        body = build()
        with self._lock:
            self._items[key] = (now + self.max_seconds, body)
        return body
