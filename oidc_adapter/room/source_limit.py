"""At most N new tickets per client source per minute per room (a token bucket).

The bucket lives in the room's key slot (hash tag `{room}`) and is kept by a
script of its own, called only for rooms that set a limit, so the admission
scripts stay untouched. A source is an IPv4 address, or an IPv6 /64: one
subscriber usually holds a whole /64, so counting single IPv6 addresses would
give a bot 2^64 buckets.
"""

from __future__ import annotations

from importlib import resources
from ipaddress import IPv6Address, IPv6Network, ip_address

import redis

from .scripts import Clock

IPV6_PREFIX = 64


def source_of(address: str) -> str:
    """The unit a limit counts: the address, an IPv6 /64, or the raw text if unparsable."""
    try:
        parsed = ip_address(address)
    except ValueError:
        return address[:64] or "unknown"
    if isinstance(parsed, IPv6Address):
        if parsed.ipv4_mapped:
            return str(parsed.ipv4_mapped)
        return str(IPv6Network(f"{parsed}/{IPV6_PREFIX}", strict=False))
    return str(parsed)


def bucket_key(room: str, source: str) -> str:
    return f"wr:{{{room}}}:src:{source}"


class SourceLimit:
    """Spends one token of a source's bucket per new ticket, atomically in Redis."""

    def __init__(self, client: redis.Redis, clock: Clock | None = None):
        body = (resources.files(__package__) / "lua" / "source_limit.lua").read_text()
        self._script = client.register_script(body)
        self._clock = clock

    def spend(self, room: str, address: str, per_minute: int) -> int:
        """0 when the ticket may be taken; otherwise how many ms until it may."""
        now = "" if self._clock is None else str(int(self._clock()))
        keys = [bucket_key(room, source_of(address))]
        allowed, wait_ms = self._script(keys=keys, args=[now, per_minute])
        return 0 if allowed else max(1, int(wait_ms))
