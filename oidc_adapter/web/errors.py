"""JSON errors for every API path, and the 503 a Redis outage becomes.

Browser pages (the /authorize blueprint) register their own handlers that
render a page; everything else answers `{"error", "error_description"}` with
the right status so clients can act on it, and never a traceback.
"""

from __future__ import annotations

from typing import Any

import redis
from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from ..authorizer.verify import RETRY_AFTER_SECONDS
from ..room.engine import RoomClosed, RoomError, UnknownRoom, UnknownTicket
from .responses import json_error

#: Redis could not be reached (or is still loading): a 503 with Retry-After, never a 500.
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)
RETRY_AFTER = {"Retry-After": str(RETRY_AFTER_SECONDS)}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        error: str,
        description: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.headers = headers or {}
        self.extra = extra


ROOM_ERRORS: tuple[tuple[type[RoomError], int, str, str], ...] = (
    (UnknownRoom, 404, "unknown_room", "No room with that name is configured."),
    (UnknownTicket, 404, "unknown_ticket", "No ticket with that id in this room."),
    (RoomClosed, 403, "room_closed", "This room is closed and takes no new tickets."),
)


def _http_error_name(exc: HTTPException) -> str:
    return (exc.name or "error").lower().replace(" ", "_")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return json_error(exc.status, exc.error, exc.description, exc.headers, **exc.extra)

    @app.errorhandler(RoomError)
    def _room_error(exc: RoomError) -> Response:
        for kind, status, error, description in ROOM_ERRORS:
            if isinstance(exc, kind):
                return json_error(status, error, description)
        return json_error(409, exc.code, "The room refused this operation.")

    def _redis_down(exc: Exception) -> Response:
        app.logger.warning("redis unavailable: %s", exc)
        return json_error(
            503,
            "temporarily_unavailable",
            "The queue store is unreachable; try again shortly.",
            RETRY_AFTER,
        )

    for kind in REDIS_DOWN:
        app.register_error_handler(kind, _redis_down)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        return json_error(exc.code or 500, _http_error_name(exc), exc.description or "")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        app.logger.exception("unhandled error")
        return json_error(500, "server_error", "An unexpected error occurred.")
