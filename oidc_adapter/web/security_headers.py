"""Headers every response carries, whatever produced it (a page, JSON, a file, an error)."""

from __future__ import annotations

from flask import Flask, Response

from ..config import Config


def register_security_headers(app: Flask, config: Config) -> None:
    """nosniff everywhere; HSTS when the issuer is https, so a browser that once
    reached the waiting room over TLS never falls back to plain http for it."""
    hsts = None
    if config.issuer.startswith("https://") and config.hsts_max_age:
        hsts = f"max-age={config.hsts_max_age}"

    @app.after_request
    def add_headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        if hsts:
            response.headers["Strict-Transport-Security"] = hsts
        return response
