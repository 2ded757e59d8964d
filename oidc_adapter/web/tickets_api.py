"""What the taker of a ticket may do with it (direct API integration):

- `DELETE /api/rooms/<room>/tickets/<ticket>`: leave the line; the place or
  slot goes to the next person at once.
- `POST /api/rooms/<room>/tickets/<ticket>/token`: a served ticket gets an
  access token; its admitted session starts on the first call.

The taker proves ownership with its ticket secret, or with the browser's
ticket cookie.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from ..room.present import heartbeat_interval, ticket_json
from ..room.results import TicketView
from ..room.states import ADMITTED, DONE
from ..secret import check_ticket_proof
from ..services import services
from . import ticket_cookie, validate
from .errors import ApiError
from .responses import json_error, no_store

bp = Blueprint("tickets_api", __name__, url_prefix="/api/rooms")

TICKET_AUTH_SCHEME = "Ticket"
MAX_SECRET_LENGTH = 128


def _require_ticket_owner(room: str, ticket: str) -> None:
    """Only whoever took the ticket may use it; checked before Redis is touched."""
    secret = services().secret
    challenge = {"WWW-Authenticate": f'{TICKET_AUTH_SCHEME} realm="{room}"'}
    scheme, _, from_header = request.headers.get("Authorization", "").partition(" ")
    if scheme and scheme.lower() != TICKET_AUTH_SCHEME.lower():
        raise ApiError(
            401,
            "invalid_request",
            f"Use 'Authorization: {TICKET_AUTH_SCHEME} <ticket_secret>'.",
            challenge,
        )
    from_body = validate.json_body().get("ticket_secret")
    if from_header.strip() and from_body is not None:
        raise ApiError(400, "invalid_request", "Send the ticket secret only once.")
    proof = from_header.strip() or from_body
    if proof is not None:
        if (
            not isinstance(proof, str)
            or len(proof) > MAX_SECRET_LENGTH
            or not check_ticket_proof(secret, room, ticket, proof)
        ):
            raise ApiError(403, "invalid_ticket_secret", "The ticket secret does not match.")
        return
    cookie = ticket_cookie.read(request, secret, room)
    if cookie is not None and cookie.ticket == ticket:
        return
    if cookie is not None:
        raise ApiError(403, "invalid_ticket_secret", "This browser holds another ticket.")
    raise ApiError(
        401,
        "ticket_secret_required",
        "Prove you took this ticket: send its ticket_secret.",
        challenge,
    )


def _token_response(view: TicketView) -> Response:
    return no_store(jsonify(services().provider.room_token(view)))


@bp.delete("/<room>/tickets/<ticket>")
def leave_line(room: str, ticket: str) -> Response:
    """The taker gives the ticket up: its place or slot goes to the next person at once."""
    room = validate.known_room(room)
    ticket = validate.ticket_id(ticket)
    _require_ticket_owner(room, ticket)
    return no_store(jsonify(ticket_json(services().engine.finish(room, ticket, DONE))))


@bp.post("/<room>/tickets/<ticket>/token")
def ticket_token(room: str, ticket: str) -> Response:
    """Served: start (or return) the admitted session and sign a token for it."""
    room = validate.known_room(room)
    ticket = validate.ticket_id(ticket)
    _require_ticket_owner(room, ticket)
    engine = services().engine
    # The owner asking is alive: this counts as a heartbeat while waiting.
    view = engine.status(room, ticket)
    if view.has_turn:
        view = engine.claim(room, ticket)
    if view.state == ADMITTED:
        return _token_response(view)
    if view.live:
        return json_error(
            409,
            "not_served",
            "This ticket has not been served yet; poll its status.",
            {"Retry-After": str(heartbeat_interval(view.room))},
            **ticket_json(view),
        )
    return json_error(
        410, "ticket_ended", f"This ticket is {view.state}; take a new one.", **ticket_json(view)
    )
