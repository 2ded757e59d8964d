"""What the Prometheus metrics add to the hot path: a room script call and a request.

    python -m bench.metrics_overhead [--calls 3000]

Run from the repository root. It starts a throwaway redis-server on 127.0.0.1
and times the room layer's default script observer against the metrics'
ScriptTimer, around a no-op call (the observer's own cost) and around
`RoomEngine.status` (one EVALSHA round trip, for scale; noisy on a busy
machine), then the per-request counter updates alone. Each in memory (the dev
server, tests) and file-backed (PROMETHEUS_MULTIPROC_DIR, as under `serve`):
that run is a child process, because prometheus_client picks its storage per
process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from oidc_adapter.config import parse_config
from oidc_adapter.redis_connection import open_redis
from oidc_adapter.room.engine import RoomEngine
from oidc_adapter.room.scripts import RoomScripts
from oidc_adapter.web.metrics import ScriptTimer, process_metrics
from tests.helpers import RedisServer

ROUTE = "/api/rooms/<room>/tickets/<ticket>"
ROUNDS = 9


def per_call_us(run, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        run()
    return (time.perf_counter() - started) / calls * 1e6


def interleaved(observers: dict[str, object], run, calls: int, rounds: int) -> dict[str, float]:
    """Median µs per call under each observer, the rounds alternating between them so
    that a busy machine slows both alike."""
    times: dict[str, list[float]] = {name: [] for name in observers}
    for _ in range(rounds):
        for name, observer in observers.items():
            RoomScripts.observe = staticmethod(observer)  # type: ignore[method-assign,arg-type]
            times[name].append(per_call_us(run, calls))
    return {name: median(found) for name, found in times.items()}


def measure(redis_url: str, calls: int) -> list[tuple[str, float]]:
    config = parse_config({"redis_url": redis_url, "rooms": {"shop": {}}}, env={})
    engine = RoomEngine(open_redis(config)[0], config.rooms)
    engine.sync_settings()
    ticket = engine.take("shop").ticket
    observers = {
        "default observer": RoomScripts.observe,
        "ScriptTimer": ScriptTimer(process_metrics()),
    }
    results = []
    for what, run, count in (
        ("observer around a no-op call", lambda: RoomScripts.observe("status", _noop), calls * 100),
        ("status script round trip", lambda: engine.status("shop", ticket), calls),
    ):
        for name, us in interleaved(observers, run, count, ROUNDS).items():
            results.append((f"{what}, {name}", us))
    metrics = process_metrics()

    def labelled() -> None:
        metrics.requests.labels(ROUTE, "GET", "200").inc()
        metrics.request_seconds.labels(ROUTE, "200").observe(0.001)

    counter = metrics.requests.labels(ROUTE, "GET", "200")
    histogram = metrics.request_seconds.labels(ROUTE, "200")

    def bound() -> None:  # what RequestCounter does once its children are bound
        counter.inc()
        histogram.observe(0.001)

    updates = {"labels() per request": labelled, "children bound once": bound}
    times: dict[str, list[float]] = {name: [] for name in updates}
    for _ in range(ROUNDS):  # alternating, as interleaved() does
        for name, update in updates.items():
            times[name].append(per_call_us(update, calls * 100))
    results += [(f"request counter + histogram, {n}", median(t)) for n, t in times.items()]
    return results


def _noop() -> None:
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)  # the child's
    args = parser.parse_args()
    if args.redis_url:  # the file-backed child
        for name, us in measure(args.redis_url, args.calls):
            print(f"| {name} | file-backed | {us:.1f} |")
        return
    with tempfile.TemporaryDirectory() as workdir:
        server = RedisServer(Path(workdir) / "redis")
        server.start()
        try:
            print(
                f"| what | values | µs per call (median of {ROUNDS} rounds) |\n| --- | --- | --- |"
            )
            for name, us in measure(server.url, args.calls):
                print(f"| {name} | in memory | {us:.1f} |")
            sys.stdout.flush()
            folder = Path(workdir) / "metrics"
            folder.mkdir()
            env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
            child = [sys.executable, "-m", "bench.metrics_overhead", "--calls", str(args.calls)]
            subprocess.run([*child, "--redis-url", server.url], env=env, check=True)  # noqa: S603
        finally:
            server.stop()


if __name__ == "__main__":
    main()
