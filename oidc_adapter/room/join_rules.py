"""A room's live rules for new visitors, read straight from its settings in Redis.

The admission scripts never need these, so they are not part of the scripts'
summary: the HTTP layer reads them here, the config file's value overridden
by an operator's live change (`room set`, the admin API), as the scripts do
for their own settings.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import redis

from .keyspace import room_key
from .settings import RoomSettings


@dataclass(frozen=True)
class JoinRules:
    join_cost: str
    pow_bits: int
    captcha_provider: str
    captcha_secret_env: str
    tickets_per_ip_per_minute: int

    @property
    def guarded(self) -> bool:
        """Whether any rule applies, so an unguarded room skips every extra check."""
        return (
            self.join_cost != "none"
            or self.captcha_provider != "none"
            or self.tickets_per_ip_per_minute > 0
        )


JOIN_FIELDS: tuple[str, ...] = tuple(field.name for field in fields(JoinRules))


def read_join_rules(client: redis.Redis, room: str, configured: RoomSettings) -> JoinRules:
    """One round trip; a field Redis lost falls back to the config file's value."""
    pipe = client.pipeline(transaction=False)
    pipe.hmget(room_key(room, "config"), JOIN_FIELDS)
    pipe.hmget(room_key(room, "overrides"), JOIN_FIELDS)
    published, overrides = pipe.execute()
    values = {}
    for name, base, override in zip(JOIN_FIELDS, published, overrides, strict=True):
        raw = override if override is not None else base
        default = getattr(configured, name)
        values[name] = default if raw is None else type(default)(raw)
    return JoinRules(**values)
