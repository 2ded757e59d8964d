"""What the room scripts return, as typed values (not Flask views)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from .states import LIVE, TURN
from .timing import RATE_BUCKETS_KEPT

#: A room script's reply, by position: a flat list is the cheapest reply for
#: Redis to build and for the client to read. The scripts fill it through an
#: index the library header writes from these names (library.py), so this is
#: the only place the order is written down. The first item is the error code
#: (None: no error; an error reply may end there); a value a reply does not
#: carry is None.
ROOM_REPLY = (
    "error", "mode", "seq", "cursor", "waiting", "pending", "active", "served", "admitted",
    "abandoned", "expired", "now_ms", "rate", "poll_s", "session_mean_s",
    "admit_per_minute", "max_active", "session_seconds", "waiting_grace_seconds",
    "claim_seconds", "schedule", "slots", "admitted_now",
)  # fmt: skip
TICKET_REPLY = ("ticket", "number", "state", "taken_s", "changed_s", "ahead", "session_expires_ms")
REPLY = ROOM_REPLY + TICKET_REPLY
AT = {name: i for i, name in enumerate(REPLY)}
#: The settings a reply carries (RoomView.settings, with the mode).
REPLY_SETTINGS = ("admit_per_minute", "max_active", "session_seconds", "waiting_grace_seconds",
                  "claim_seconds")  # fmt: skip


def as_dict(items: list[Any]) -> dict[str, Any]:
    """Key/value pairs of a script reply that is not a room's (compact, order)."""
    return {items[i]: items[i + 1] for i in range(0, len(items) - 1, 2)}


def error_of(raw: list[Any]) -> str | None:
    return raw[0] if raw else None


def rate_buckets(ring: str | None) -> dict[int, int]:
    """Admissions per rate bucket, from the ring a reply carries (record_rate in
    _room.lua): slots of 8 + 8 hex digits (bucket, count), never written ones
    zero bytes. A slot keeps the newest bucket written there, so only the
    buckets inside the kept window of the newest one are still history."""
    if not ring:
        return {}
    values = struct.unpack(f">{len(ring) // 8}I", bytes.fromhex(ring.replace("\0", "0")))
    buckets, counts = values[0::2], values[1::2]
    gone = max(buckets) - RATE_BUCKETS_KEPT  # this bucket and older left the newest's window
    return {b: c for b, c in zip(buckets, counts, strict=True) if c and b > gone}


@dataclass(frozen=True)
class Slot:
    place: int
    booked_ms: int
    rounds: int


@dataclass(frozen=True)
class Schedule:
    """A timed sale, as the room's scripts see it now (see the operator guide)."""

    #: before (closed until the pre-queue), prequeue, open, or closed (past closes_at).
    phase: str
    opens_at: int
    prequeue_opens_at: int
    closes_at: int
    #: When the room really opened (the first call from opens_at on); 0 = not yet.
    opened_s: int
    #: P: tickets 1..P are served in the shuffled order; the places served so far.
    prequeue_size: int
    shuffle_cursor: int
    #: The hex SHA-256 of the seed, published before anyone joins the pre-queue.
    commitment: str
    #: Published once the room has opened.
    seed: str | None = None

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Schedule:
        return cls(
            phase=raw["phase"],
            commitment=raw["commitment"],
            seed=raw.get("seed"),
            **{
                key: int(raw[key])
                for key in (
                    "opens_at",
                    "prequeue_opens_at",
                    "closes_at",
                    "opened_s",
                    "prequeue_size",
                    "shuffle_cursor",
                )
            },
        )


@dataclass(frozen=True)
class RoomView:
    name: str
    mode: str
    seq: int
    cursor: int
    waiting: int
    pending: int
    active: int
    served: int
    admitted: int
    abandoned: int
    expired: int
    now_ms: int
    rate_buckets: dict[int, int]
    settings: dict[str, Any]
    #: The poll hint (`heartbeat_seconds`), computed by the scripts, which also
    #: use it to tell a silence from clients polling as asked.
    poll_seconds: int
    #: Under max_active, for the waiting ticket this reply is about (or a
    #: newcomer) and for the place halfway to it: (place, when the session
    #: whose slot that place gets ends as booked (ms), after how many more
    #: rounds of max_active sessions). Empty when no cap applies.
    slots: tuple[Slot, ...] = ()
    #: How long sessions really last lately (0: none has ended yet).
    session_mean_s: float = 0.0
    #: Only for a room with opens_at or closes_at set (or a pre-queue served).
    schedule: Schedule | None = None

    @property
    def before_opening(self) -> bool:
        """A timed sale that has not opened: nobody's place or wait is known yet."""
        return self.schedule is not None and self.schedule.phase in ("before", "prequeue")

    @classmethod
    def parse(cls, name: str, raw: list[Any]) -> RoomView:
        settings: dict[str, Any] = {key: int(raw[AT[key]]) for key in REPLY_SETTINGS}
        settings["mode"] = raw[AT["mode"]]
        slots, schedule = raw[AT["slots"]] or (), raw[AT["schedule"]]
        return cls(
            name=name,
            mode=raw[AT["mode"]],
            seq=int(raw[AT["seq"]]),
            cursor=int(raw[AT["cursor"]]),
            waiting=int(raw[AT["waiting"]]),
            pending=int(raw[AT["pending"]]),
            active=int(raw[AT["active"]]),
            served=int(raw[AT["served"]]),
            admitted=int(raw[AT["admitted"]]),
            abandoned=int(raw[AT["abandoned"]]),
            expired=int(raw[AT["expired"]]),
            now_ms=int(raw[AT["now_ms"]]),
            rate_buckets=rate_buckets(raw[AT["rate"]]),
            settings=settings,
            poll_seconds=int(raw[AT["poll_s"]]),
            slots=tuple(Slot(*map(int, slots[i : i + 3])) for i in range(0, len(slots), 3)),
            session_mean_s=float(raw[AT["session_mean_s"]]),
            schedule=Schedule.parse(as_dict(schedule)) if schedule else None,
        )


@dataclass(frozen=True, kw_only=True)
class TicketView:
    """One ticket, with the room as the same script call left it."""

    room: RoomView
    ticket: str
    #: The queue number: the order of arrival, which is the order of service.
    number: int
    state: str
    #: Unix seconds on the room's clock: taken, and last heartbeat or state change.
    taken_s: int
    #: Waiting tickets only: live tickets ahead of this one.
    ahead: int | None = None
    changed_s: int
    #: Admitted tickets only: when the session ends (ms, room clock).
    session_expires_ms: int | None = None

    @property
    def live(self) -> bool:
        return self.state in LIVE

    @property
    def has_turn(self) -> bool:
        """Served or admitted: this ticket may log in or already has."""
        return self.state in TURN

    @property
    def position(self) -> int | None:
        return None if self.ahead is None else self.ahead + 1

    @classmethod
    def parse(cls, name: str, raw: list[Any]) -> TicketView:
        ahead, expires = raw[AT["ahead"]], raw[AT["session_expires_ms"]]
        return cls(
            room=RoomView.parse(name, raw),
            ticket=raw[AT["ticket"]],
            number=int(raw[AT["number"]]),
            state=raw[AT["state"]],
            taken_s=int(raw[AT["taken_s"]]),
            changed_s=int(raw[AT["changed_s"]]),
            ahead=int(ahead) if ahead is not None else None,
            session_expires_ms=int(float(expires)) if expires is not None else None,
        )
