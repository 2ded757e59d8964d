"""Redis time of a timed sale's shuffled pre-queue, per place and per call.

Fills a pre-queue on a throwaway redis-server (no persistence, 127.0.0.1),
opens it on a manual clock and reads Redis's own accounting (INFO
commandstats: microseconds spent in EVALSHA) around each step, so the
numbers are server time, not round trips:

- `order`: the ticket at every place, as `room audit` reads it;
- serving: `admit` calls of 250 places (the most one call serves);
- the status poll of a pre-queue ticket (its place is one inverse
  permutation), beside the same poll in a room without a schedule.

    python -m bench.shuffle_bench --tickets 20000
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import redis

from oidc_adapter.config import parse_config
from oidc_adapter.room.engine import RoomEngine

from .pow_bench import _start_redis
from .run import Processes

START_MS = 1_900_000_000_000


class Clock:
    def __init__(self) -> None:
        self.ms = START_MS

    def __call__(self) -> int:
        return self.ms


def _engine(client: redis.Redis, clock: Clock, **shop: object) -> RoomEngine:
    cfg = parse_config(
        {"issuer": "http://localhost:8000", "redis_url": "redis://x", "rooms": {"shop": shop}},
        env={},
    )
    engine = RoomEngine(client, cfg.rooms, clock=clock)
    engine.sync_settings()
    engine.reset("shop")  # a fresh room each time: the seed and P go with it
    return engine


def _function_usec(client: redis.Redis, step: Callable[[], object]) -> tuple[float, int]:
    """Server microseconds spent in room functions (FCALL) during `step`, and how many calls."""

    def stats() -> tuple[float, int]:
        entry = client.info("commandstats").get("cmdstat_fcall", {})
        return float(entry.get("usec", 0)), int(entry.get("calls", 0))

    usec, calls = stats()
    step()
    usec_after, calls_after = stats()
    return usec_after - usec, calls_after - calls


def measure(client: redis.Redis, tickets: int) -> dict[str, float]:
    clock = Clock()
    opens_at = START_MS // 1000 + 3600
    engine = _engine(client, clock, admit_per_minute=0, opens_at=opens_at, prequeue_seconds=7200)
    taken = [engine.take("shop") for _ in range(tickets)]
    clock.ms = opens_at * 1000
    engine.state("shop")
    out: dict[str, float] = {}
    usec, _ = _function_usec(client, lambda: engine.prequeue_order("shop"))
    out["order_us_per_place"] = usec / tickets
    probe = taken[-100:]
    usec, calls = _function_usec(client, lambda: [engine.status("shop", t.ticket) for t in probe])
    out["prequeue_status_us_per_call"] = usec / calls
    serve = min(tickets - len(probe), 2500)
    usec, calls = _function_usec(
        client, lambda: [engine.admit("shop", 250) for _ in range(serve // 250)]
    )
    out["serve_us_per_place"] = usec / serve
    out["serve_us_per_call_of_250"] = usec / calls
    plain = _engine(client, clock, admit_per_minute=0)
    plain_tickets = [plain.take("shop") for _ in range(1000)]
    usec, calls = _function_usec(
        client, lambda: [plain.status("shop", t.ticket) for t in plain_tickets[-100:]]
    )
    out["plain_status_us_per_call"] = usec / calls
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=20000)
    args = parser.parse_args(argv)
    procs = Processes()
    try:
        with tempfile.TemporaryDirectory() as workdir:
            client = _start_redis(procs, Path(workdir))
            for name, value in measure(client, args.tickets).items():
                print(f"{name:32} {value:10.1f}")
    finally:
        procs.stop_all()


if __name__ == "__main__":
    main()
