"""Response helpers every blueprint shares."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

NO_STORE_HEADERS = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))


def no_store(response: Response) -> Response:
    """Per-user and credential-bearing answers must never be cached anywhere."""
    response.headers.update(NO_STORE_HEADERS)
    return response


def json_error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    """The JSON error shape of every API path: `{"error", "error_description"}`."""
    response = jsonify({"error": error, "error_description": description, **extra})
    response.status_code = status
    response.headers.update(headers or {})
    return no_store(response)
