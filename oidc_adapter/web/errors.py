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
from ..room.present import schedule_json
from .responses import json_error

#: Redis cannot serve us now: unreachable, or still loading...
REDIS_DOWN: tuple[type[Exception], ...] = (
    redis.ConnectionError,  # also Sentinel's MasterNotFoundError while none is elected
    redis.TimeoutError,
    redis.BusyLoadingError,
    redis.exceptions.ClusterDownError,  # a cluster shard has no master yet
    redis.exceptions.TryAgainError,  # a cluster slot is being moved
    # A function call is refused before it runs; redis-py names the code by class.
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
)
#: ...or it refuses writes: out of memory, a replica after a failover, a failing
#: disk. Redis sends these as error codes, also from inside a script.
REFUSING_WRITES = ("OOM", "READONLY", "MASTERDOWN", "MISCONF", "NOREPLICAS")


def store_unavailable(exc: Exception) -> bool:
    """Whether a Redis error means "come back shortly" (503), not a bug of ours (500)."""
    if isinstance(exc, REDIS_DOWN):
        return True
    message = str(exc)
    return isinstance(exc, redis.ResponseError) and any(
        message.startswith(code) or f"-{code} " in message for code in REFUSING_WRITES
    )


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
                # A timed sale's refusal says when its line opens.
                extra = schedule_json(exc.room) if exc.room else {}
                return json_error(status, error, description, **extra)
        return json_error(409, exc.code, "The room refused this operation.")

    @app.errorhandler(redis.RedisError)
    def _redis_error(exc: redis.RedisError) -> Response:
        if not store_unavailable(exc):
            return _unexpected(exc)
        app.logger.warning("redis unavailable: %s", exc)
        return json_error(
            503,
            "temporarily_unavailable",
            "The queue store is unavailable; try again shortly.",
            RETRY_AFTER,
        )

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        return json_error(exc.code or 500, _http_error_name(exc), exc.description or "")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        app.logger.exception("unhandled error")
        return json_error(500, "server_error", "An unexpected error occurred.")
