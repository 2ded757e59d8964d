"""Liveness, readiness and Prometheus metrics."""

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


METRICS = (
    ("waiting", "gauge", "Tickets waiting in line"),
    ("active", "gauge", "Admitted sessions plus served tickets not yet claimed"),
    ("pending", "gauge", "Served tickets not yet claimed"),
    ("served", "counter", "Tickets served since the room was last reset"),
    ("admitted", "counter", "Sessions started since the room was last reset"),
    ("abandoned", "counter", "Waiting tickets abandoned (no heartbeat)"),
    ("expired", "counter", "Turns and sessions that expired"),
    ("seq", "counter", "Tickets taken since the room was last reset"),
)


@bp.get("/metrics")
def metrics() -> Response:
    engine = services().engine
    views = [engine.state(name) for name in engine.rooms]
    lines: list[str] = []
    for attr, kind, help_text in METRICS:
        name = f"waiting_room_{attr}" + ("_total" if kind == "counter" else "")
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        lines += [f'{name}{{room="{v.name}"}} {getattr(v, attr)}' for v in views]
    lines += [
        "# HELP waiting_room_admit_per_minute Configured admission rate",
        "# TYPE waiting_room_admit_per_minute gauge",
    ]
    lines += [
        f'waiting_room_admit_per_minute{{room="{v.name}"}} {v.settings["admit_per_minute"]}'
        for v in views
    ]
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")
