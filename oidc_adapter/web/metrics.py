"""Prometheus metrics: the room gauges read from Redis at scrape time, and the
process counters of prometheus_client (requests, script calls, tokens).

Under gunicorn every worker counts in its own files under
PROMETHEUS_MULTIPROC_DIR (`gunicorn_app.py` makes one) and a scrape adds them
up, so any worker, or the master on `metrics_bind`, answers for all of them.
Without that variable (the Flask dev server, tests) the counters live in
memory. Labels are bounded: the route is the URL rule, never the raw path.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from time import perf_counter
from typing import Any

import redis
from flask import Blueprint, Flask, Response, abort, g, request
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    values,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from ..room.engine import RoomEngine
from ..room.library import SCRIPT_NAMES
from ..room.scripts import RoomScripts
from ..services import services
from .bearer import bearer_match
from .errors import ApiError
from .proxies import WsgiApp

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
#: The classic text format every Prometheus reads (our names need no escaping).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Route label of a request no URL rule matched (404s, scanners): one value for all.
UNMATCHED = "unmatched"
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
#: Counted here, by its answer, so the code exchange itself stays free of metrics.
TOKEN_ENDPOINT = "token.token"  # noqa: S105 (an endpoint name)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SCRIPT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)

#: The room gauges: (attribute of RoomView, type, help).
ROOM_METRICS = (
    ("waiting", "gauge", "Tickets waiting in line"),
    ("active", "gauge", "Admitted sessions plus served tickets not yet claimed"),
    ("pending", "gauge", "Served tickets not yet claimed"),
    ("served", "counter", "Tickets served since the room was last reset"),
    ("admitted", "counter", "Sessions started since the room was last reset"),
    ("abandoned", "counter", "Waiting tickets abandoned (no heartbeat)"),
    ("expired", "counter", "Turns and sessions that expired"),
    ("seq", "counter", "Tickets taken since the room was last reset"),
)


@dataclass(frozen=True)
class ProcessMetrics:
    """This process's counters, made once (after gunicorn's fork, in a worker)."""

    registry: CollectorRegistry
    requests: Counter
    request_seconds: Histogram
    script_seconds: Histogram
    script_errors: Counter
    tokens: Counter


@cache
def process_metrics() -> ProcessMetrics:
    # prometheus_client picks in-memory or file-backed values when it is imported;
    # the server sets PROMETHEUS_MULTIPROC_DIR later (at start), so pick again here.
    values.ValueClass = values.get_value_class()
    # One series per counter, as in multiprocess mode (which has no `_created`).
    disable_created_metrics()
    registry = CollectorRegistry(auto_describe=True)
    return ProcessMetrics(
        registry=registry,
        requests=Counter(
            "oidc_adapter_http_requests",
            "HTTP requests answered, by route (URL rule), method and status",
            ("route", "method", "status"),
            registry=registry,
        ),
        request_seconds=Histogram(
            "oidc_adapter_http_request_duration_seconds",
            "Time to answer an HTTP request, by route (URL rule) and status",
            ("route", "status"),
            buckets=REQUEST_BUCKETS,
            registry=registry,
        ),
        script_seconds=Histogram(
            "oidc_adapter_redis_script_duration_seconds",
            "Time of one room script call (EVALSHA round trip included), by script",
            ("script",),
            buckets=SCRIPT_BUCKETS,
            registry=registry,
        ),
        script_errors=Counter(
            "oidc_adapter_redis_script_errors",
            "Room script calls that failed with a Redis error, by script and error class",
            ("script", "error"),
            registry=registry,
        ),
        tokens=Counter(
            "oidc_adapter_tokens_issued",
            "Successful /token exchanges (an ID token and an access token each)",
            registry=registry,
        ),
    )


class ScriptTimer:
    """The room scripts' observer: times every call, counts its Redis errors. The
    children are bound once, so a call costs two clock reads and one observe()."""

    def __init__(self, metrics: ProcessMetrics):
        self._histogram = metrics.script_seconds
        self._seconds = {name: self._histogram.labels(name) for name in SCRIPT_NAMES}
        self._errors = metrics.script_errors

    def __call__(self, name: str, call: Callable[[], Any]) -> Any:
        started = perf_counter()
        try:
            return call()
        except redis.RedisError as exc:
            self._errors.labels(name, type(exc).__name__).inc()
            raise
        finally:
            seconds = self._seconds.get(name)
            if seconds is None:  # a script added without being listed: bound on first use
                seconds = self._seconds[name] = self._histogram.labels(name)
            seconds.observe(perf_counter() - started)


def route_label() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED


def request_seconds() -> float:
    """Time since this request reached the app (its first before_request)."""
    return perf_counter() - g.get("request_started", perf_counter())


def _start_timer() -> None:
    g.request_started = perf_counter()


def method_label() -> str:
    """Any token is a method to HTTP: only the standard ones get a series of their own."""
    return request.method if request.method in METHODS else "other"


class RequestCounter:
    """The after-request hook: counts and times every answer. Its children are
    bound once per (route, method, status), as the script timer binds its own:
    `labels()` checks and looks up its arguments on every call, which was a
    measurable part of a status poll (bench/metrics_overhead.py)."""

    def __init__(self, metrics: ProcessMetrics):
        self._metrics = metrics
        self._bound: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def __call__(self, response: Response) -> Response:
        key = (route_label(), method_label(), str(response.status_code))
        bound = self._bound.get(key)
        if bound is None:
            route, method, status = key
            bound = self._bound[key] = (
                self._metrics.requests.labels(route, method, status),
                self._metrics.request_seconds.labels(route, status),
            )
        bound[0].inc()
        bound[1].observe(request_seconds())
        if request.endpoint == TOKEN_ENDPOINT and response.status_code == 200:
            self._metrics.tokens.inc()
        return response


def register_request_metrics(app: Flask) -> None:
    """Count every request; the timer runs first so it also covers the other hooks."""
    metrics = process_metrics()
    RoomScripts.observe = staticmethod(ScriptTimer(metrics))  # type: ignore[method-assign]
    app.before_request_funcs.setdefault(None, []).insert(0, _start_timer)
    app.after_request(RequestCounter(metrics))


# -- the exposition ------------------------------------------------------------------


REDIS_UP = "waiting_room_redis_up"
REDIS_UP_HELP = "1 when the room state could be read from Redis for this scrape, else 0"


class RoomCollector:
    """The room gauges, read from Redis when scraped: Redis is the only state."""

    def __init__(self, engine: RoomEngine):
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        try:
            views = [self._engine.state(name) for name in self._engine.rooms]
        except redis.RedisError as exc:
            # The process counters still tell what the outage does to requests;
            # the room gauges are left out rather than reported stale.
            log.warning("metrics: room state unavailable: %s", exc)
            yield GaugeMetricFamily(REDIS_UP, REDIS_UP_HELP, value=0)
            return
        yield GaugeMetricFamily(REDIS_UP, REDIS_UP_HELP, value=1)
        for attr, kind, help_text in ROOM_METRICS:
            family = GaugeMetricFamily if kind == "gauge" else CounterMetricFamily
            metric = family(f"waiting_room_{attr}", help_text, labels=("room",))
            for view in views:
                metric.add_metric((view.name,), getattr(view, attr))
            yield metric
        rate = GaugeMetricFamily(
            "waiting_room_admit_per_minute", "Configured admission rate", labels=("room",)
        )
        for view in views:
            rate.add_metric((view.name,), view.settings["admit_per_minute"])
        yield rate


def exposition(engine: RoomEngine) -> bytes:
    """Every metric in the Prometheus text format: all workers' counters, then the rooms'."""
    if os.environ.get(MULTIPROC_DIR):
        counters = CollectorRegistry(auto_describe=True)
        MultiProcessCollector(counters)
    else:
        counters = process_metrics().registry
    rooms = CollectorRegistry(auto_describe=False)
    rooms.register(RoomCollector(engine))
    return generate_latest(counters) + generate_latest(rooms)


def authorized(header: str | None, token: str | None) -> bool:
    """No token configured: open (the default); else `Bearer <token>`, in constant time."""
    return not token or bearer_match(header, {"metrics": token}) is not None


UNAUTHORIZED = ("invalid_token", "A valid metrics bearer token is required.")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="metrics"'}
NO_STORE = ("Cache-Control", "no-store")


def metrics_wsgi_app(engine: RoomEngine, token: str | None) -> WsgiApp:
    """/metrics alone, for the internal address (`metrics_bind`) the server's master
    process listens on; the same exposition and token rule as the app's route."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not found: try /metrics\n"]
        if not authorized(environ.get("HTTP_AUTHORIZATION"), token):
            start_response("401 Unauthorized", [("Content-Type", "text/plain"), *CHALLENGE.items()])
            return [UNAUTHORIZED[1].encode() + b"\n"]
        body = exposition(engine)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE), NO_STORE])
        return [body]

    return app


@bp.get("/metrics")
def metrics() -> Response:
    config = services().config
    if config.metrics_bind:
        abort(404)  # served on the internal address only (gunicorn_app.py)
    if not authorized(request.headers.get("Authorization"), config.metrics_token):
        raise ApiError(401, *UNAUTHORIZED, CHALLENGE)
    response = Response(exposition(services().engine), content_type=CONTENT_TYPE)
    response.headers.update([NO_STORE])
    return response
