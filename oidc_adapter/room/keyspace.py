"""Redis key names of a room.

Every key shares the hash tag `{room}`, so a room's scripts touch one
cluster slot and run unchanged on one Redis, Sentinel or Redis Cluster.
"""

from __future__ import annotations

SUFFIXES = ("cfg", "ovr", "st", "ids", "tt", "at", "ts", "live", "log", "cl", "ses", "rt")


def room_keys(room: str) -> list[str]:
    """Keys in the order `_room.lua` expects them in KEYS."""
    return [f"wr:{{{room}}}:{suffix}" for suffix in SUFFIXES]
