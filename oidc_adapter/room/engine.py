"""The room/queue engine: a thin Python face over the room's Lua scripts.

All state lives in Redis and every operation is one script call (one round
trip), so any number of workers and hosts agree on the queue without locks,
leaders or background jobs.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

import redis

from .keyspace import room_key
from .results import AT, RoomView, TicketView, as_dict, error_of
from .scripts import Clock, RoomScripts
from .settings import LIVE_SETTINGS, RoomSettings
from .shuffle import new_seed
from .states import DONE

TICKET_ID_BYTES = 16
#: An ended ticket with an id from before ids carried their number stays
#: answerable ("your turn expired") this long before `compact` forgets it.
COMPACT_RETENTION_SECONDS = 3600
COMPACT_BATCH = 500
#: Places of a pre-queue's order read per `order` script call (each costs
#: tens of microseconds of Redis time: a batch stays a short script).
ORDER_BATCH = 500


class RoomError(Exception):
    """A room operation refused; `code` is the machine-readable reason."""

    def __init__(self, code: str, room: RoomView | None = None):
        self.code = code
        self.room = room
        super().__init__(code)


class UnknownRoom(RoomError):
    pass


class UnknownTicket(RoomError):
    pass


class RoomClosed(RoomError):
    pass


class RoomEngine:
    """Every queue operation of the configured rooms, each one Lua script call.

    It owns the rooms' configuration: it publishes the config file's settings
    to Redis (operator overrides stay on top) and republishes them when Redis
    lost them, so it is built once per process by the side that has the
    config. Readers without it use `TicketReader`.
    """

    def __init__(
        self,
        client: redis.Redis,
        rooms: dict[str, RoomSettings],
        clock: Clock | None = None,
        wait_replicas: int = 0,
    ):
        self.client = client
        self.rooms = rooms
        self._scripts = RoomScripts(client, clock, wait_replicas)

    def _call(self, name: str, room: str, *args: object) -> list[Any]:
        if room not in self.rooms:
            raise UnknownRoom("unknown_room")
        raw = self._scripts(name, room, *args)
        error = error_of(raw)
        if error == "unknown_room":
            # Configured but never synced (e.g. Redis was flushed): sync and retry once.
            self.sync_settings([room])
            raw = self._scripts(name, room, *args)
            error = error_of(raw)
        if error == "unknown_ticket":
            raise UnknownTicket(error)
        if error == "room_closed":
            raise RoomClosed(error, RoomView.parse(room, raw))
        if error:
            raise RoomError(error)
        return raw

    def sync_settings(self, names: Iterable[str] | None = None) -> None:
        """Publish the config file's room settings; operator overrides stay on top."""
        names = list(names or self.rooms)
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            cfg_key = room_key(name, "config")
            pipe.delete(cfg_key)
            pipe.hset(cfg_key, mapping=self.rooms[name].as_settings())
        pipe.execute()
        for name in names:
            self._scripts("migrate", name)

    def take(self, room: str, existing: str | None = None) -> TicketView:
        """Take a ticket, or get back `existing` if it is still live."""
        # The random value keys the room's ticket ids when it has no key yet
        # (a new or reset room); ids themselves are made by the script.
        entropy = secrets.token_urlsafe(TICKET_ID_BYTES)
        raw = self._call("take", room, entropy, existing or "", *new_seed())
        return TicketView.parse(room, raw)

    def status(self, room: str, ticket: str, heartbeat: bool = True) -> TicketView:
        beat = "1" if heartbeat else "0"
        return TicketView.parse(room, self._call("status", room, ticket, beat, *new_seed()))

    def state(self, room: str) -> RoomView:
        # Every call that may be the first of a timed sale's pre-queue brings a
        # fresh seed: the room keeps the first and commits to it (_room.lua).
        return RoomView.parse(room, self._call("room", room, *new_seed()))

    def configure(self, room: str, changes: dict[str, Any]) -> RoomView:
        """Apply validated live settings; a None value drops the operator override."""
        args: list[object] = [*new_seed()]
        for key, value in changes.items():
            if key not in LIVE_SETTINGS:
                raise ValueError(key)
            args += [key, "" if value is None else value]
        return RoomView.parse(room, self._call("configure", room, *args))

    def resume(self, room: str) -> RoomView:
        """Back to the configured mode, or auto when the file itself pauses or closes."""
        configured = self.rooms[room].mode if room in self.rooms else "auto"
        return self.configure(
            room, {"mode": "auto" if configured in ("paused", "closed") else configured}
        )

    def admit(self, room: str, count: int) -> tuple[RoomView, int]:
        raw = self._call("admit", room, count)
        return RoomView.parse(room, raw), int(raw[AT["admitted_now"]])

    def claim(self, room: str, ticket: str) -> TicketView:
        """Start (or return) the admitted session of a served ticket."""
        return TicketView.parse(room, self._call("claim", room, ticket))

    def finish(self, room: str, ticket: str, final: str = DONE) -> TicketView:
        return TicketView.parse(room, self._call("finish", room, ticket, final))

    def reset(self, room: str) -> RoomView:
        return RoomView.parse(room, self._call("reset", room))

    def compact(self, room: str, retention_seconds: int = COMPACT_RETENTION_SECONDS) -> int:
        """Forget tickets that ended over `retention_seconds` ago; returns how many.

        Runs in batches (one short script each), so a big room never blocks Redis.
        """
        cursor, forgotten = "0", 0
        while True:
            raw = as_dict(self._call("compact", room, cursor, COMPACT_BATCH, retention_seconds)[1:])
            cursor, forgotten = str(raw["cursor"]), forgotten + int(raw["forgotten"])
            if cursor == "0":
                return forgotten

    def prequeue_order(self, room: str) -> list[int]:
        """The pre-queue's ticket numbers in the order this room serves them
        (empty before the opening), as its scripts compute it: what an audit
        compares with its own computation from the published seed."""
        numbers: list[int] = []
        while True:
            raw = as_dict(self._call("order", room, len(numbers) + 1, ORDER_BATCH)[1:])
            numbers += map(int, raw["numbers"])
            if len(numbers) >= int(raw["prequeue_size"]) or not raw["numbers"]:
                return numbers

    def overrides(self, room: str) -> dict[str, str]:
        return self.client.hgetall(room_key(room, "overrides"))
