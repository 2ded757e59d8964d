"""The public JSON shape of rooms and tickets, shared by the API, the
waiting page and the OIDC JSON mode so they can never disagree."""

from __future__ import annotations

from typing import Any

from .estimate import estimate_wait, measured_rate_per_minute
from .results import RoomView, TicketView
from .states import ADMITTED, SERVED, WAITING

#: A waiting ticket should beat several times per grace period, so one lost
#: poll (a phone switching networks) never costs anyone their place.
BEATS_PER_GRACE = 4


def heartbeat_interval(room: RoomView) -> int:
    return max(5, min(30, room.settings["waiting_grace_seconds"] // BEATS_PER_GRACE))


def room_json(room: RoomView) -> dict[str, Any]:
    estimate = estimate_wait(room.waiting + 1, room)
    rate = measured_rate_per_minute(room)
    return {
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
    }
    if view.state == WAITING:
        estimate = estimate_wait(view.position or 1, room)
        out.update(
            position=view.position,
            ahead=view.ahead,
            estimated_wait=estimate.as_json() if estimate else None,
        )
    elif view.state == SERVED:
        out["claim_by"] = view.changed_s + room.settings["claim_seconds"]
    elif view.state == ADMITTED and view.session_expires_ms:
        out["session_expires_at"] = view.session_expires_ms // 1000
    return out
