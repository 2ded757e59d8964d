"""What the dashboard's time series costs: Redis memory per room, and the read.

    python -m bench.series_memory

Run from the repository root. It starts a throwaway redis-server on
127.0.0.1, runs a room on a manual clock through more than an hour of
arrivals and admissions (so the series is full: 359 closed buckets, the open
one read from the room's state, and the list of served waits holds its
1,800), then prints each key's MEMORY USAGE and the median time of one
dashboard read (`read_recorded` + `chart_data`).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from statistics import median

from oidc_adapter.config import parse_config
from oidc_adapter.redis_connection import open_redis
from oidc_adapter.room.engine import RoomEngine
from oidc_adapter.room.keyspace import room_key
from oidc_adapter.room.series import chart_data, read_recorded
from oidc_adapter.room.timing import SERIES_BUCKET_SECONDS, SERIES_BUCKETS_KEPT, WAITS_PER_BUCKET
from tests.helpers import ManualClock, RedisServer

READS = 200


def main() -> None:
    with tempfile.TemporaryDirectory() as workdir:
        server = RedisServer(Path(workdir) / "redis")
        server.start()
        try:
            config = parse_config(
                {"redis_url": server.url, "rooms": {"shop": {"admit_per_minute": 600}}}, env={}
            )
            client = open_redis(config)[0]
            clock = ManualClock()
            engine = RoomEngine(client, config.rooms, clock=clock)
            engine.sync_settings()
            for _ in range(SERIES_BUCKETS_KEPT + 40):
                for _ in range(WAITS_PER_BUCKET + 1):  # each take is served at once
                    engine.take("shop")
                clock.advance(SERIES_BUCKET_SECONDS)
                engine.state("shop")
            print("| key | entries | bytes (MEMORY USAGE) |\n| --- | --- | --- |")
            series, waits = room_key("shop", "series"), room_key("shop", "waits")
            for key, entries in ((series, client.hlen(series)), (waits, client.llen(waits))):
                print(f"| {key} | {entries} | {client.memory_usage(key, samples=0)} |")
            view = engine.state("shop")  # the dashboard's request reads it first
            took = []
            for _ in range(READS):
                start = time.perf_counter()
                chart_data(read_recorded(client, view), view.now_ms // 1000)
                took.append(time.perf_counter() - start)
            print(f"\none dashboard read of a full hour: {median(took) * 1000:.2f} ms (median)")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
