"""The public JSON shape of rooms and tickets, shared by the API, the
waiting page and the OIDC JSON mode so they can never disagree."""

from __future__ import annotations

from typing import Any

from .estimate import estimate_wait, measured_rate_per_minute, unavailable
from .results import RoomView, TicketView
from .states import ADMITTED, SERVED, WAITING


def heartbeat_interval(room: RoomView) -> int:
    """How often to poll: the scripts' own hint, which they also rely on to
    tell clients that stopped polling from clients that could not reach us."""
    return room.poll_seconds


def room_json(room: RoomView) -> dict[str, Any]:
    estimate = estimate_wait(room, room.waiting, room.seq + 1)
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
    }
    if view.state == WAITING:
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
