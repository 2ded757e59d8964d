"""Checks on path and body values, each failing with a 400 that names the field."""

from __future__ import annotations

import re
from typing import Any

from flask import request

from ..room.settings import ROOM_NAME
from ..services import services
from .errors import ApiError

TICKET_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")


def room_name(value: str) -> str:
    if not ROOM_NAME.fullmatch(value):
        raise ApiError(400, "invalid_request", "Malformed room name.", field="room")
    return value


def ticket_id(value: Any, field: str = "ticket") -> str:
    if not isinstance(value, str) or not TICKET_ID.fullmatch(value):
        raise ApiError(400, "invalid_request", f"Malformed ticket id in '{field}'.", field=field)
    return value


def json_body(required: bool = False) -> dict[str, Any]:
    """The request's JSON object; an empty body counts as {} unless required."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if required:
            raise ApiError(400, "invalid_request", "A JSON object body is required.")
        return {}
    data = request.get_json(silent=True, force=True)
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_request", "The body must be a JSON object.")
    return data


def known_room(value: str) -> str:
    """A well-formed name of a configured room (400 if malformed, 404 if unknown)."""
    room_name(value)
    if value not in services().config.rooms:
        raise ApiError(404, "unknown_room", "No room with that name is configured.")
    return value
