"""Loads the room's Lua scripts once and calls them by SHA.

Each script file is the shared `_room.lua` prelude followed by the file's own
body, so the admission logic exists once and every entry point runs it. redis-py's
Script calls EVALSHA and reloads the body when the server answers NOSCRIPT
(after a restart or SCRIPT FLUSH).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import redis
from redis.commands.core import Script

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
)


@cache
def script_source(name: str) -> str:
    lua = resources.files(__package__) / "lua"
    return (lua / "_room.lua").read_text() + "\n" + (lua / f"{name}.lua").read_text()


class RoomScripts:
    """The registered scripts of one Redis connection."""

    def __init__(self, client: redis.Redis):
        self._scripts: dict[str, Script] = {
            name: client.register_script(script_source(name)) for name in SCRIPT_NAMES
        }

    def __call__(self, name: str, keys: list[str], args: list[object]) -> list:
        return self._scripts[name](keys=keys, args=args)
