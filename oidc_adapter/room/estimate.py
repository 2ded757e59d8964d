"""Honest wait estimates from the admission rate actually measured.

The configured rate is only a ceiling: a full room (max_active), a pause or
an operator's manual admissions make the real rate differ, and people
waiting deserve the real one. With no admissions measured yet we say so
instead of inventing a number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .results import RoomView
from .timing import RATE_BUCKET_SECONDS, RATE_BUCKETS_KEPT

SHORT_WINDOW = 60
LONG_WINDOW = RATE_BUCKET_SECONDS * RATE_BUCKETS_KEPT
MIN_SPREAD = 0.15


@dataclass(frozen=True)
class WaitEstimate:
    seconds: int
    low: int
    high: int
    rate_per_minute: float

    def as_json(self) -> dict[str, float | int]:
        return {
            "seconds": self.seconds,
            "low": self.low,
            "high": self.high,
            "rate_per_minute": round(self.rate_per_minute, 1),
        }


def _rate(buckets: dict[int, int], now_s: int, window: int) -> float | None:
    """Admissions per second over the window, counted from the first admission on
    record when the room started admitting inside it. Counting from the first
    admission *in the window* would overstate the pace of a room that admits in
    bursts (a full room letting people in as sessions end)."""
    current = now_s // RATE_BUCKET_SECONDS
    first = current - window // RATE_BUCKET_SECONDS + 1
    inside = {b: c for b, c in buckets.items() if first <= b <= current and c > 0}
    if not inside:
        return None
    start = max(first, min(b for b, c in buckets.items() if c > 0)) * RATE_BUCKET_SECONDS
    elapsed = max(RATE_BUCKET_SECONDS, now_s - start + 1)
    return sum(inside.values()) / elapsed


def measured_rate_per_minute(room: RoomView) -> float | None:
    rate = _rate(room.rate_buckets, room.now_ms // 1000, LONG_WINDOW)
    return None if rate is None else rate * 60


def estimate_wait(people: int, room: RoomView) -> WaitEstimate | None:
    """Seconds until `people` more tickets are served, with a low/high range."""
    if room.mode in ("paused", "closed"):
        return None
    if room.mode == "passthrough" or people <= 0:
        return WaitEstimate(0, 0, 0, measured_rate_per_minute(room) or 0.0)
    now_s = room.now_ms // 1000
    rates = [
        r for r in (_rate(room.rate_buckets, now_s, w) for w in (SHORT_WINDOW, LONG_WINDOW)) if r
    ]
    if not rates:
        return None
    # A rate lowered mid-event caps what was measured before the change;
    # with no configured rate (manual admission only) the measurement stands.
    ceiling = room.settings["admit_per_minute"] / 60 or math.inf
    rates = [min(r, ceiling) for r in rates]
    middle = sum(rates) / len(rates)
    fast = max(max(rates), middle * (1 + MIN_SPREAD))
    slow = min(min(rates), middle * (1 - MIN_SPREAD))
    return WaitEstimate(
        seconds=math.ceil(people / middle),
        low=math.floor(people / fast),
        high=math.ceil(people / slow),
        rate_per_minute=middle * 60,
    )
