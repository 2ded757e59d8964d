"""What the room scripts return, as typed values (not Flask views)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .states import LIVE, TURN


def as_dict(items: list[Any]) -> dict[str, Any]:
    return {items[i]: items[i + 1] for i in range(0, len(items) - 1, 2)}


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
    def parse(cls, name: str, raw: dict[str, Any]) -> RoomView:
        settings = as_dict(raw["settings"])
        for key, value in settings.items():
            if key != "mode":
                settings[key] = int(value)
        rate = as_dict(raw["rate"])
        return cls(
            name=name,
            mode=raw["mode"],
            seq=int(raw["seq"]),
            cursor=int(raw["cursor"]),
            waiting=int(raw["waiting"]),
            pending=int(raw["pending"]),
            active=int(raw["active"]),
            served=int(raw["served"]),
            admitted=int(raw["admitted"]),
            abandoned=int(raw["abandoned"]),
            expired=int(raw["expired"]),
            now_ms=int(raw["now_ms"]),
            rate_buckets={int(k): int(v) for k, v in rate.items()},
            settings=settings,
            poll_seconds=int(raw["poll_s"]),
            slots=tuple(
                Slot(*map(int, raw["slots"][i : i + 3]))
                for i in range(0, len(raw.get("slots", ())), 3)
            ),
            session_mean_s=float(raw["session_mean_s"]),
            schedule=Schedule.parse(as_dict(raw["schedule"])) if "schedule" in raw else None,
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
    def parse(cls, name: str, raw: dict[str, Any]) -> TicketView:
        expires = raw.get("session_expires_ms")
        return cls(
            room=RoomView.parse(name, raw),
            ticket=raw["ticket"],
            number=int(raw["number"]),
            state=raw["state"],
            taken_s=int(raw["taken_s"]),
            changed_s=int(raw["changed_s"]),
            ahead=int(raw["ahead"]) if "ahead" in raw else None,
            session_expires_ms=int(float(expires)) if expires is not None else None,
        )
