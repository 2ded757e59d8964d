"""CORS for the room JSON API, for sites that integrate it from the browser.

Only the configured origins get the headers, and never credentials: the API
needs no cookies (a ticket is proven with its secret in a header), so a
foreign page can read nothing it could not already ask for itself.
"""

from __future__ import annotations

from flask import Flask, Response, request

API_PREFIX = "/api/rooms/"
PREFLIGHT_MAX_AGE = 600


def register_cors(app: Flask, origins: tuple[str, ...]) -> None:
    if not origins:
        return
    allowed = frozenset(origins)

    @app.after_request
    def add_cors_headers(response: Response) -> Response:
        if not request.path.startswith(API_PREFIX):
            return response
        response.vary.add("Origin")
        origin = request.headers.get("Origin")
        if origin not in allowed:
            return response
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "Retry-After"
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, DELETE"
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            response.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
        return response
