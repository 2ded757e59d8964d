"""`oidc-adapter serve` on a highly available Redis, through a master failover.

A rush of simulated users takes and claims tickets while the Redis master is
killed (SIGKILL). While there is no master the app must answer 503 with
Retry-After (never a 500) and /readyz must say not ready; after the failover
it must serve again by itself. The test prints how long that took and how many
acknowledged takes and claims the new master does not know.

Replication on loopback is so quick that a plain kill loses nothing, which
would prove nothing about WAIT. So just before the kill the test cuts
replication (replicas frozen, links dropped), the window in which a real
failover loses writes: without `redis_wait_replicas` the takes acknowledged in
it must be lost, with it none may be (those takes get 503 instead). The
numbers are recorded in docs/operators.md ("Scaling out").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from oidc_adapter.room.keyspace import room_key
from tests.e2e.rush import Rush, lost_after_failover
from tests.e2e.servers import Provider, wait_until
from tests.helpers import RedisServer
from tests.redis_topologies import RedisClusterSet, RedisSentinelSet, cut_replication, thaw

pytestmark = pytest.mark.e2e

ROOM = "rush"
#: Everyone is served at once, so every user takes and claims as fast as it can.
ROOMS = {ROOM: {"mode": "passthrough", "session_seconds": 3600, "claim_seconds": 600}}
#: Acknowledged takes before the cut, and after the recovery, to call it a rush.
BEFORE_CUT = 200
AFTER_RECOVERY = 100
#: Takes acknowledged (or refused by WAIT) after the cut, before the kill.
IN_THE_GAP = 8
FAILOVER_SECONDS = 30.0
#: (replicas per master, redis_wait_replicas): WAIT 1 needs a second replica, since
#: the first becomes the new master and the room would answer 503 until one is back.
VARIANTS = pytest.mark.parametrize(
    ("replicas", "wait_replicas"), [(1, 0), (2, 1)], ids=["async", "wait-1-of-2-replicas"]
)


@dataclass
class Failover:
    rush: Rush
    cut_at: float
    killed_at: float
    back_at: float  # when the first take sent after the kill was acknowledged

    @property
    def seconds(self) -> float:
        return self.back_at - self.killed_at

    def acknowledged_in_the_gap(self) -> int:
        takes = self.rush.seen.takes.values()
        return sum(1 for sent, _ in takes if self.cut_at < sent <= self.killed_at)


def _readyz(provider: Provider) -> int:
    try:
        return requests.get(f"{provider.url}/readyz", timeout=5).status_code
    except requests.RequestException:
        return 0


def fail_over(provider: Provider, master: RedisServer, replicas: list[RedisServer]) -> Failover:
    """Run the rush, cut replication, kill the master, wait for the app to serve
    again by itself."""
    with Rush(provider.url, ROOM) as rush:
        wait_until(lambda: len(rush.seen.takes) >= BEFORE_CUT, 30, "the rush to get going")
        cut_replication(master, replicas)
        cut_at = time.monotonic()
        wait_until(
            lambda: max(rush.takes_after(cut_at), rush.unavailable_after(cut_at)) >= IN_THE_GAP,
            10,
            "answers after the replication cut",
        )
        master.kill()
        killed_at = time.monotonic()
        thaw(replicas)
        wait_until(lambda: _readyz(provider) == 503, 10, "/readyz to report not ready")
        wait_until(lambda: _readyz(provider) == 200, FAILOVER_SECONDS, "/readyz ready again")
        wait_until(lambda: rush.takes_after(killed_at), FAILOVER_SECONDS, "a take to succeed")
        back_at = rush.first_take_after(killed_at)
        wait_until(lambda: rush.takes_after(back_at) >= AFTER_RECOVERY, 30, "the rush to go on")
    return Failover(rush, cut_at, killed_at, back_at)


def check_outcome(provider: Provider, label: str, wait_replicas: int, failover: Failover) -> None:
    seen = failover.rush.seen
    assert not seen.bad, f"answers other than success or 503 + Retry-After: {seen.bad[:5]}"
    assert seen.statuses[503] > 0, "nothing noticed the outage"
    lost_takes, lost_claims = lost_after_failover(provider.url, ROOM, seen)
    print(
        f"\n[{label}, wait={wait_replicas}] serving again {failover.seconds:.2f}s after the "
        f"kill; acknowledged {len(seen.takes)} takes "
        f"({failover.acknowledged_in_the_gap()} between the cut and the kill), "
        f"{len(seen.claims)} claims; lost {lost_takes} takes, {lost_claims} claims; "
        f"answers {dict(seen.statuses)}"
    )
    if wait_replicas:
        assert (lost_takes, lost_claims) == (0, 0), "acknowledged despite WAIT, then lost"
    else:  # sent after the cut, acknowledged before the kill: no replica has them
        gap = failover.acknowledged_in_the_gap()
        assert lost_takes >= gap > 0, "takes acknowledged after the cut survived"


def start_provider(workdir: Path, redis_url: str, wait_replicas: int) -> Provider:
    provider = Provider(workdir, redis_url, ROOMS, {})
    if wait_replicas:
        provider.config["redis_wait_replicas"] = wait_replicas
    return provider.start()


def run_failover(
    tmp_path: Path,
    redis_url: str,
    wait_replicas: int,
    victim: Callable[[], RedisServer],
    replicas: Callable[[RedisServer], list[RedisServer]],
) -> tuple[Provider, Failover]:
    provider = start_provider(tmp_path / "app", redis_url, wait_replicas)
    try:
        master = victim()
        return provider, fail_over(provider, master, replicas(master))
    except BaseException:
        print(provider.log_tail())
        provider.stop()
        raise


@VARIANTS
def test_sentinel_failover_during_a_rush(tmp_path, replicas, wait_replicas):
    redis = RedisSentinelSet(tmp_path / "redis", replicas=replicas)
    try:
        redis.start()
        old_port = redis.master.port
        provider, outcome = run_failover(
            tmp_path, redis.url, wait_replicas, lambda: redis.master, lambda _: redis.replicas
        )
        try:
            assert redis.master_port() != old_port, "the sentinels did not promote a replica"
            check_outcome(provider, "sentinel", wait_replicas, outcome)
        finally:
            provider.stop()
    finally:
        redis.stop()


@VARIANTS
def test_cluster_master_failover_during_a_rush(tmp_path, replicas, wait_replicas):
    """Three masters with replicas; the master of the room's slot dies."""
    cluster = RedisClusterSet(tmp_path / "redis", replicas=replicas, node_timeout_ms=1000)
    key = room_key(ROOM, "state")
    try:
        cluster.start()
        provider, outcome = run_failover(
            tmp_path,
            cluster.url,
            wait_replicas,
            lambda: cluster.master_of(key),
            cluster.replicas_of,
        )
        try:
            assert cluster.master_of(key).proc is not None, "nobody took over the room's slot"
            check_outcome(provider, "cluster", wait_replicas, outcome)
        finally:
            provider.stop()
    finally:
        cluster.stop()
