"""Loads the room's Lua scripts once and calls them by SHA.

Each script is a generated header (state numbers, timing, key names: the
Python tables are the only source), the shared `_room.lua` prelude and the
file's own body, so the admission logic exists once and every entry point
runs it. redis-py's Script calls EVALSHA and reloads the body when the server
answers NOSCRIPT (after a restart or SCRIPT FLUSH).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, partial
from importlib import resources
from typing import Any

import redis
from redis.commands.core import Script

from . import timing
from .durability import DURABLE_SCRIPTS, run_durably
from .keyspace import ROOM_KEYS, room_keys
from .results import as_dict
from .states import NUMBERS

SCRIPT_NAMES = (
    "take",
    "status",
    "room",
    "configure",
    "admit",
    "claim",
    "finish",
    "reset",
    "compact",
    "migrate",
    "order",
)

#: Lua name -> constant of `timing.py`.
TIMING_NAMES = (
    ("GRANULE", "HEARTBEAT_GRANULE_SECONDS"),
    ("RATE_BUCKET", "RATE_BUCKET_SECONDS"),
    ("RATE_KEEP", "RATE_BUCKETS_KEPT"),
    ("SERIES_BUCKET", "SERIES_BUCKET_SECONDS"),
    ("SERIES_KEEP", "SERIES_BUCKETS_KEPT"),
    ("WAITS_KEEP", "WAITS_KEPT"),
    ("WAITS_PER_BUCKET", "WAITS_PER_BUCKET"),
    ("POLLS_PER_WINDOW", "POLLS_PER_WINDOW"),
    ("POLL_MIN", "POLL_MIN_SECONDS"),
    ("POLL_MAX", "POLL_MAX_SECONDS"),
    ("OVERDUE_POLLS", "OVERDUE_POLLS"),
    ("SESSION_MEAN_OVER", "SESSION_MEAN_OVER"),
)


def lua_header() -> str:
    """The constants every script shares, written from the Python tables."""
    ordered = sorted(NUMBERS, key=NUMBERS.__getitem__)
    lines = [f"local {name.upper()} = {NUMBERS[name]}" for name in ordered]
    lines.append("local STATE_NAMES = {" + ", ".join(f"'{name}'" for name in ordered) + "}")
    lines += [f"local {name} = {getattr(timing, source)}" for name, source in TIMING_NAMES]
    lines += [f"local K_{name.upper()} = KEYS[{i}]" for i, (name, _) in enumerate(ROOM_KEYS, 1)]
    return "\n".join(lines) + "\n"


@cache
def script_source(name: str) -> str:
    lua = resources.files(__package__) / "lua"
    return "\n".join(
        (lua_header(), (lua / "_room.lua").read_text(), (lua / f"{name}.lua").read_text())
    )


#: Returns "now" in milliseconds. None (the default) means the Redis server's
#: clock, one clock for every worker and host; tests inject a manual clock
#: through the app factory, which no HTTP client can reach.
Clock = Callable[[], int]

#: Runs every script call: observe(name, call) returns call()'s reply. The app puts
#: its metrics here (web/metrics.py), so this layer knows none of them.
ScriptObserver = Callable[[str, Callable[[], Any]], Any]


class RoomScripts:
    """The registered scripts of one Redis connection, called on one clock."""

    #: Process-wide, as the metrics it feeds are; the default just makes the call.
    observe: ScriptObserver = staticmethod(lambda name, call: call())

    def __init__(self, client: redis.Redis, clock: Clock | None = None, wait_replicas: int = 0):
        self._clock = clock
        self._client, self._wait_replicas = client, wait_replicas
        self._scripts: dict[str, Script] = {
            name: client.register_script(script_source(name)) for name in SCRIPT_NAMES
        }

    def __call__(self, name: str, room: str, *args: object) -> dict[str, Any]:
        """Run script `name` on `room`; the reply's key/value pairs as a dict."""
        return self.observe(name, partial(self._run, name, room, args))

    def _run(self, name: str, room: str, args: tuple[object, ...]) -> dict[str, Any]:
        now = "" if self._clock is None else str(int(self._clock()))
        keys, argv = room_keys(room), [now, *args]
        if self._wait_replicas and name in DURABLE_SCRIPTS:
            script, replicas = self._scripts[name], self._wait_replicas
            return as_dict(run_durably(script, self._client, keys, argv, replicas))
        return as_dict(self._scripts[name](keys=keys, args=argv))
