"""The operator API: every action behind a bearer admin token.

Tokens are compared in constant time, and a refused request changes
nothing. With no token configured the API refuses everything. Several named
tokens (`admin_tokens`) may be configured; each action's log line names the
token that made it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from ..room.engine import COMPACT_RETENTION_SECONDS
from ..room.present import room_json, ticket_json
from ..room.results import RoomView
from ..room.settings import parse_setting_changes
from ..room.states import REVOKED
from ..services import services
from . import validate
from .access_log import log_operator_action, ticket_hash
from .bearer import bearer_match
from .errors import ApiError
from .responses import no_store

bp = Blueprint("admin_api", __name__, url_prefix="/admin")

MAX_ADMIT = 100_000
READS = ("GET", "HEAD", "OPTIONS")
#: The body fields each action reads (None: all, the settings it changed).
ACTION_FIELDS: dict[str, tuple[str, ...] | None] = {
    "change_settings": None,
    "admit": ("count",),
    "revoke": ("ticket",),
    "compact": ("older_than_seconds",),
}


@bp.before_request
def require_admin_token() -> None:
    g.admin_name = admin_name(request.headers.get("Authorization", ""))
    if g.admin_name is None:
        raise ApiError(
            401,
            "invalid_token",
            "A valid admin bearer token is required.",
            {"WWW-Authenticate": 'Bearer realm="admin"'},
        )


def admin_name(header: str) -> str | None:
    """The name of the admin token `Authorization: Bearer <token>` carries."""
    return bearer_match(header, services().config.admin_credentials)


@bp.after_request
def log_action(response: Response) -> Response:
    """Every change, and every refused token, gets an operator log line; reads do not."""
    if request.method not in READS or response.status_code == 401:
        action = (request.endpoint or "unknown").rpartition(".")[2]
        details = _action_details(action) if response.status_code < 400 else {}
        log_operator_action(
            g.get("admin_name"),
            action,
            response.status_code,
            room=(request.view_args or {}).get("room"),
            **details,
        )
    return response


def _action_details(action: str) -> dict[str, Any]:
    """What a successful action asked for (so its body passed validation), the
    ticket only as its log hash; actions without a body log none."""
    if action not in ACTION_FIELDS:
        return {}
    body = request.get_json(silent=True) or {}
    fields = ACTION_FIELDS[action] or tuple(body)
    details = {key: body[key] for key in fields if key in body}
    if "ticket" in details:
        details["ticket"] = ticket_hash(details["ticket"])
    return {"request": details}


bp.after_request(no_store)


def admin_room_json(room: RoomView) -> dict[str, Any]:
    out = room_json(room)
    out.update(
        pending_claims=room.pending,
        admitted_total=room.admitted,
        abandoned_total=room.abandoned,
        expired_total=room.expired,
        settings=room.settings,
        overrides=services().engine.overrides(room.name),
    )
    return out


@bp.get("/rooms")
def list_rooms() -> Response:
    engine = services().engine
    return jsonify({"rooms": [admin_room_json(engine.state(name)) for name in engine.rooms]})


@bp.get("/rooms/<room>")
def show_room(room: str) -> Response:
    return jsonify(admin_room_json(services().engine.state(validate.known_room(room))))


@bp.route("/rooms/<room>/settings", methods=["PATCH", "POST"])
def change_settings(room: str) -> Response:
    """Change live settings; `null` drops an override back to the config file."""
    room = validate.known_room(room)
    body = validate.json_body(required=True)
    if not body:
        raise ApiError(400, "invalid_request", "No settings given.")
    changes, problems = parse_setting_changes(body)
    if problems:
        field, message = problems[0]
        raise ApiError(
            400,
            "invalid_request",
            f"{field}: {message}",
            field=field,
            problems=[{"field": f, "message": m} for f, m in problems],
        )
    return jsonify(admin_room_json(services().engine.configure(room, changes)))


def _set_mode(room: str, mode: str) -> Response:
    return jsonify(
        admin_room_json(services().engine.configure(validate.known_room(room), {"mode": mode}))
    )


@bp.post("/rooms/<room>/pause")
def pause(room: str) -> Response:
    return _set_mode(room, "paused")


@bp.post("/rooms/<room>/resume")
def resume(room: str) -> Response:
    """Back to the configured mode (or auto if the file itself says paused)."""
    return jsonify(admin_room_json(services().engine.resume(validate.known_room(room))))


@bp.post("/rooms/<room>/close")
def close(room: str) -> Response:
    return _set_mode(room, "closed")


@bp.post("/rooms/<room>/admit")
def admit(room: str) -> Response:
    room = validate.known_room(room)
    count = validate.json_body(required=True).get("count")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_ADMIT:
        raise ApiError(
            400,
            "invalid_request",
            f"count must be an integer from 1 to {MAX_ADMIT}.",
            field="count",
        )
    view, admitted = services().engine.admit(room, count)
    return jsonify({"admitted": admitted, "requested": count, "room": admin_room_json(view)})


@bp.post("/rooms/<room>/revoke")
def revoke(room: str) -> Response:
    room = validate.known_room(room)
    ticket = validate.ticket_id(validate.json_body(required=True).get("ticket"))
    return jsonify(ticket_json(services().engine.finish(room, ticket, REVOKED)))


@bp.post("/rooms/<room>/compact")
def compact(room: str) -> Response:
    """Forget tickets that ended over `older_than_seconds` ago (default an hour)."""
    room = validate.known_room(room)
    older_than = validate.json_body().get("older_than_seconds", COMPACT_RETENTION_SECONDS)
    if isinstance(older_than, bool) or not isinstance(older_than, int) or older_than < 0:
        raise ApiError(
            400,
            "invalid_request",
            "older_than_seconds must be a non-negative integer.",
            field="older_than_seconds",
        )
    return jsonify({"forgotten": services().engine.compact(room, older_than)})


@bp.post("/rooms/<room>/reset")
def reset(room: str) -> Response:
    """Drops every ticket; the body must repeat the room name to confirm."""
    room = validate.known_room(room)
    if validate.json_body(required=True).get("confirm") != room:
        raise ApiError(
            400,
            "confirmation_required",
            'Resetting drops every ticket; send {"confirm": "<room name>"}.',
            field="confirm",
        )
    return jsonify(admin_room_json(services().engine.reset(room)))
