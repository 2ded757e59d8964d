"""Checks on path and body values, each failing with a 400 that names the field."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import request

from ..room.settings import ROOM_NAME
from ..services import services
from .errors import ApiError

TICKET_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")
#: JSON can escape half of a surrogate pair (\ud800 alone): no character at all.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def room_name(value: str) -> str:
    if not ROOM_NAME.fullmatch(value):
        raise ApiError(400, "invalid_request", "Malformed room name.", field="room")
    return value


def ticket_id(value: Any, field: str = "ticket") -> str:
    if not isinstance(value, str) or not TICKET_ID.fullmatch(value):
        raise ApiError(400, "invalid_request", f"Malformed ticket id in '{field}'.", field=field)
    return value


def json_body(required: bool = False) -> dict[str, Any]:
    """The request's JSON object; an empty body counts as {} unless required.

    Parsed here rather than by `get_json(silent=True)`: that lets the
    RecursionError of a deeply nested body (3,000 `[` fit in 16 KB) through
    as a 500, and bad input must get a 400.
    """
    raw = request.get_data(cache=True)
    if not raw.strip():
        if required:
            raise ApiError(400, "invalid_request", "A JSON object body is required.")
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_request", "The body must be a JSON object.")
    if _has_lone_surrogate(data):
        # Such a string cannot be encoded: not to UTF-8 for Redis, not for a secret's comparison.
        raise ApiError(400, "invalid_request", "The body's strings must be valid Unicode.")
    return data


def _has_lone_surrogate(data: Any) -> bool:
    """Walked without recursion: the C parser nests deeper than Python recursion can follow."""
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if LONE_SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def known_room(value: str) -> str:
    """A well-formed name of a configured room (400 if malformed, 404 if unknown)."""
    room_name(value)
    if value not in services().config.rooms:
        raise ApiError(404, "unknown_room", "No room with that name is configured.")
    return value
