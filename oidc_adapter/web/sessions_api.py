"""`POST /api/sessions/end`: the protected site, authenticated with its client
credentials, ends a session of its room early (checkout, logout) and frees
the slot at once."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from ..authorizer import Denied
from ..oidc.client_auth import ClientAuthError, authenticate_client
from ..oidc.clients import Client
from ..room.states import DONE, TURN, WAITING
from ..services import services
from . import validate
from .errors import ApiError
from .responses import no_store

bp = Blueprint("sessions_api", __name__)


def _params() -> dict[str, Any]:
    if request.mimetype == "application/json":
        return validate.json_body()
    return request.form.to_dict()


def _client(params: dict[str, Any]) -> Client:
    try:
        client, _ = authenticate_client(
            services().provider.clients, request.headers.get("Authorization"), params
        )
    except ClientAuthError as exc:
        headers = {"WWW-Authenticate": 'Basic realm="sessions"'} if exc.status == 401 else None
        raise ApiError(exc.status, exc.error, exc.description, headers) from None
    return client


def _session_of(params: dict[str, Any], room: str) -> str:
    """The session named by `sid`, or by an access token of this room."""
    token, sid = params.get("token"), params.get("sid")
    if (token is None) == (sid is None):
        raise ApiError(400, "invalid_request", "Send either 'token' or 'sid'.")
    if token is not None:
        try:
            # Ended sessions included: ending one twice is not an error.
            identity = services().authorizer(check_sessions=False).verify(str(token))
        except Denied as exc:
            raise ApiError(400, "invalid_token", exc.description) from exc
        if identity.room != room:
            raise ApiError(403, "wrong_room", "That session belongs to another room.")
        sid = identity.session
    return validate.ticket_id(sid, "sid")


@bp.post("/api/sessions/end")
def end_session() -> Response:
    """The site ends one of its room's sessions; ending it twice is not an error."""
    params = _params()
    room = _client(params).room
    sid = _session_of(params, room)
    engine = services().engine
    view = engine.status(room, sid, heartbeat=False)
    if view.state == WAITING:
        raise ApiError(409, "session_not_started", "That ticket is still waiting in line.")
    ended = view.state in TURN
    if ended:
        view = engine.finish(room, sid, DONE)
    return no_store(jsonify(room=room, sid=sid, state=view.state, ended=ended))
