"""Liveness and readiness (the metrics are in `metrics`)."""

from __future__ import annotations

from collections.abc import Callable

import redis
from flask import Blueprint, Flask, Response, current_app, jsonify

from ..services import services
from .errors import RETRY_AFTER
from .responses import no_store

bp = Blueprint("health", __name__)

READY_PROBE_KEY = "wr:readyz"

#: Extra readiness checks other parts register (e.g. "a signing key is loaded").
ReadinessCheck = Callable[[], tuple[str, bool]]


def add_readiness_check(app: Flask, check: ReadinessCheck) -> None:
    app.extensions.setdefault("readiness_checks", []).append(check)


def _redis_writable() -> bool:
    """Reachable is not enough: out of memory, or a replica after a failover, Redis
    answers PING but refuses every ticket. A tiny expiring write tells."""
    try:
        return bool(services().redis.set(READY_PROBE_KEY, "1", px=10_000))
    except redis.RedisError:
        return False


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    checks = {"redis": _redis_writable()}
    for check in current_app.extensions.get("readiness_checks", []):
        name, ok = check()
        checks[name] = ok
    ready = all(checks.values())
    response = jsonify({"status": "ready" if ready else "not_ready", "checks": checks})
    if not ready:
        response.headers.update(RETRY_AFTER)
    return no_store(response), 200 if ready else 503
