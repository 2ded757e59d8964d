"""The public JSON API of rooms: state, take a ticket, ticket status."""

from __future__ import annotations

import json

from flask import Blueprint, Response, jsonify

from ..room.present import room_json, ticket_json
from ..secret import ticket_proof
from ..services import services
from . import validate
from .join_gate import JoinProof, check_newcomer
from .responses import json_error, no_store

bp = Blueprint("rooms_api", __name__, url_prefix="/api/rooms")


@bp.get("/<room>")
def room_state(room: str) -> Response:
    svc = services()
    room = validate.room_name(room)
    max_age = svc.config.room_state_max_age

    def build() -> bytes:
        return json.dumps(room_json(svc.engine.state(room)), separators=(",", ":")).encode()

    body = svc.snapshots.get(room, build) if max_age else build()
    response = Response(body, mimetype="application/json")
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    return response


@bp.post("/<room>/tickets")
def take_ticket(room: str) -> tuple[Response, int]:
    """Take a ticket; a caller still holding a live one gets it back (200, no new place)."""
    svc = services()
    room = validate.room_name(room)
    body = validate.json_body()
    existing = body.get("ticket")
    if existing is not None:
        existing = validate.ticket_id(existing)
    proof = JoinProof(body.get("pow_challenge"), body.get("pow_counter"), body.get("captcha_token"))
    check_newcomer(room, existing, proof)
    view = svc.engine.take(room, existing)
    out = ticket_json(view)
    reused = existing is not None and view.ticket == existing
    if not reused:
        # Returned once: it proves the caller took this ticket.
        out["ticket_secret"] = ticket_proof(svc.secret, room, view.ticket)
    return no_store(jsonify(out)), 200 if reused else 201


@bp.get("/<room>/tickets/<ticket>")
def ticket_status(room: str, ticket: str) -> Response:
    """Position and estimate; also the heartbeat that keeps a waiting ticket alive."""
    view = services().engine.status(validate.room_name(room), validate.ticket_id(ticket))
    out = ticket_json(view)
    if not view.live:
        return json_error(
            410, "ticket_ended", f"This ticket is {view.state}; take a new one.", **out
        )
    return no_store(jsonify(out))
