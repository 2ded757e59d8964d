"""The public JSON shape of rooms and tickets, shared by the API, the
waiting page and the OIDC JSON mode so they can never disagree."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from .estimate import estimate_wait, measured_rate_per_minute, unavailable
from .results import RoomView, TicketView
from .states import ADMITTED, SERVED, WAITING


def heartbeat_interval(room: RoomView) -> int:
    """How often to poll: the scripts' own hint, which they also rely on to
    tell clients that stopped polling from clients that could not reach us."""
    return room.poll_seconds


def utc_text(epoch_seconds: int) -> str:
    """ISO-8601 in UTC, e.g. 2026-12-01T09:00:00Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_seconds))


def schedule_json(room: RoomView) -> dict[str, Any]:
    """A timed sale's times, phase and shuffle commitment (the seed once open);
    empty for a room without one, so other rooms' JSON stays as it was."""
    if room.schedule is None:
        return {}
    sale = asdict(room.schedule)
    sale["opens_at_utc"] = utc_text(room.schedule.opens_at)
    return {"schedule": sale}


def room_json(room: RoomView) -> dict[str, Any]:
    estimate = estimate_wait(room, room.waiting, room.seq + 1)
    rate = measured_rate_per_minute(room)
    return {
        **schedule_json(room),
        "room": room.name,
        "mode": room.mode,
        "waiting": room.waiting,
        "now_serving": room.cursor,
        "last_ticket": room.seq,
        "served_total": room.served,
        "active": room.active,
        "max_active": room.settings["max_active"],
        "admit_per_minute": room.settings["admit_per_minute"],
        "measured_admit_per_minute": None if rate is None else round(rate, 1),
        "estimated_wait_for_newcomer": estimate.as_json() if estimate else None,
        "estimate_unavailable": unavailable(room),
        "updated_at": room.now_ms // 1000,
    }


def ticket_json(view: TicketView) -> dict[str, Any]:
    room = view.room
    out: dict[str, Any] = {
        "room": room.name,
        "ticket": view.ticket,
        "number": view.number,
        "state": view.state,
        "served": view.has_turn,
        "mode": room.mode,
        "taken_at": view.taken_s,
        "updated_at": room.now_ms // 1000,
        "now_serving": room.cursor,
        "waiting": room.waiting,
        "served_total": room.served,
        "heartbeat_seconds": heartbeat_interval(room),
        **schedule_json(room),
    }
    if view.state == WAITING and room.before_opening:
        # Everyone here gets a random place at the opening: none is known yet.
        out.update(
            position=None, ahead=None, estimated_wait=None, estimate_unavailable=unavailable(room)
        )
    elif view.state == WAITING:
        estimate = estimate_wait(room, view.ahead or 0, view.number)
        out.update(
            position=view.position,
            ahead=view.ahead,
            estimated_wait=estimate.as_json() if estimate else None,
            estimate_unavailable=unavailable(room),
        )
    elif view.state == SERVED:
        out["claim_by"] = view.changed_s + room.settings["claim_seconds"]
    elif view.state == ADMITTED and view.session_expires_ms:
        out["session_expires_at"] = view.session_expires_ms // 1000
    return out
