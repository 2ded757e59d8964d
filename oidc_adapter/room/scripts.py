"""Runs the room's Lua (room/library.py) on one Redis connection.

Every operation is one call: FCALL of the library's function, or EVALSHA
on a server without functions. When the server does not have the code (a
new server, a flush, a restart without persistence) it is loaded on the
room's node and the call made again, so nothing else ever loads it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import redis

from .durability import DURABLE_SCRIPTS, run_durably
from .keyspace import room_prefix
from .library import Functions, Scripts, lacks_functions
from .nodes import node_client

#: Returns "now" in milliseconds. None (the default) means the Redis server's
#: clock, one clock for every worker and host; tests inject a manual clock
#: through the app factory, which no HTTP client can reach.
Clock = Callable[[], int]

#: Runs every script call: observe(name, call) returns call()'s reply. The app puts
#: its metrics here (web/metrics.py), so this layer knows none of them.
ScriptObserver = Callable[[str, Callable[[], Any]], Any]


class RoomScripts:
    """The room's code on one Redis connection, called on one clock."""

    #: Process-wide, as the metrics it feeds are; the default just makes the call.
    observe: ScriptObserver = staticmethod(lambda name, call: call())

    def __init__(self, client: redis.Redis, clock: Clock | None = None, wait_replicas: int = 0):
        self._clock = clock
        self._client, self._wait_replicas = client, wait_replicas
        self._code: Functions | Scripts = Functions()

    def __call__(self, name: str, room: str, *args: object) -> list[Any]:
        """Run script `name` on `room`; its reply (see results.REPLY)."""
        return self.observe(name, partial(self._run, name, room, args))

    def _run(self, name: str, room: str, args: tuple[object, ...]) -> list[Any]:
        now = "" if self._clock is None else str(int(self._clock()))
        keys, argv = [room_prefix(room)], [now, *args]
        try:
            return self._send(name, keys, argv)
        except redis.ResponseError as exc:
            if isinstance(self._code, Functions) and lacks_functions(exc):
                self._code = Scripts()
            elif not self._code.is_missing(exc):
                raise
            self._code.load(node_client(self._client, keys[0]))
        return self._send(name, keys, argv)

    def _send(self, name: str, keys: list[str], argv: list[object]) -> list[Any]:
        command = self._code.command(name, keys, argv)
        if self._wait_replicas and name in DURABLE_SCRIPTS:
            return run_durably(command, self._client, keys[0], self._wait_replicas)
        return self._client.execute_command(*command)
