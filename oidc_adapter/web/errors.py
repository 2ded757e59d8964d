"""JSON errors for every API path, and the 503 a Redis outage becomes.

Browser pages (the OIDC flow) render their own error page; everything else
answers `{"error", "error_description"}` with the right status so clients
can act on it, and never a traceback.
"""

from __future__ import annotations

from typing import Any

import redis
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from ..room.engine import RoomClosed, RoomError, UnknownRoom, UnknownTicket

RETRY_AFTER_SECONDS = 5


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


def no_store(response: Response) -> Response:
    """Per-user and credential-bearing answers must never be cached anywhere."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def json_error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    body = {"error": error, "error_description": description, **extra}
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _http_error_name(exc: HTTPException) -> str:
    return (exc.name or "error").lower().replace(" ", "_")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return json_error(exc.status, exc.error, exc.description, exc.headers, **exc.extra)

    @app.errorhandler(UnknownRoom)
    def _unknown_room(exc: UnknownRoom) -> Response:
        return json_error(404, "unknown_room", "No room with that name is configured.")

    @app.errorhandler(UnknownTicket)
    def _unknown_ticket(exc: UnknownTicket) -> Response:
        return json_error(404, "unknown_ticket", "No ticket with that id in this room.")

    @app.errorhandler(RoomClosed)
    def _closed(exc: RoomClosed) -> Response:
        return json_error(403, "room_closed", "This room is closed and takes no new tickets.")

    @app.errorhandler(RoomError)
    def _room_error(exc: RoomError) -> Response:
        return json_error(409, exc.code, "The room refused this operation.")

    @app.errorhandler(redis.ConnectionError)
    @app.errorhandler(redis.TimeoutError)
    @app.errorhandler(redis.BusyLoadingError)
    def _redis_down(exc: Exception) -> Response:
        app.logger.warning("redis unavailable: %s", exc)
        if request.endpoint == "oidc.authorize":
            # A browser in the middle of a login gets a page, not JSON.
            from ..pages import error_page

            page = error_page(
                503,
                "The waiting room is briefly unavailable",
                "Nobody loses their place: please reload this page in a few seconds.",
            )
            page.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return page
        return json_error(
            503,
            "temporarily_unavailable",
            "The queue store is unreachable; try again shortly.",
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        return json_error(exc.code or 500, _http_error_name(exc), exc.description or "")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        app.logger.exception("unhandled error")
        return json_error(500, "server_error", "An unexpected error occurred.")
