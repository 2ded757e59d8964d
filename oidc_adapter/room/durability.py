"""Opt-in durability of a take or a claim: Redis WAIT before the user is told.

Redis replicates asynchronously: a master that dies right after answering
takes its last writes with it, and the replica a failover promotes never saw
them. With `redis_wait_replicas = N` the scripts whose result a user is told
about (a ticket handed out, a session started) run as one pipeline with
`WAIT N timeout` on the same connection; WAIT counts the replicas that hold
everything that connection wrote, so fewer than N means "maybe lost" and the
caller answers 503 rather than promise a place it may not have.

WAIT cannot run inside a script, and on another pooled connection it would
wait for that connection's writes, not ours; on a cluster the pipeline goes
to the node that owns the room's slot (a cluster pipeline refuses EVALSHA).
"""

from __future__ import annotations

from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.commands.core import Script
from redis.exceptions import RedisClusterException

#: The scripts whose success a user is told about.
DURABLE_SCRIPTS = frozenset({"take", "claim"})
#: How long a take waits for replicas; well below the client's socket timeout
#: (2 s), and on a healthy network a replica acknowledges in about a millisecond.
WAIT_TIMEOUT_MS = 500


class NotDurable(redis.ConnectionError):
    """Too few replicas acknowledged a write in time. A ConnectionError, so every
    handler that turns an unreachable store into 503 + Retry-After handles it."""


def run_durably(
    script: Script, client: redis.Redis, keys: list[str], args: list[Any], replicas: int
) -> Any:
    """Run `script`, then WAIT for `replicas` on the same connection: one round trip."""
    node = _node_client(client, keys[0])
    try:
        try:
            reply, acknowledged = _evalsha_and_wait(node, script, keys, args, replicas)
        except redis.exceptions.NoScriptError:
            # Not the pipeline's own loading: that asks SCRIPT EXISTS on every call.
            node.script_load(script.script)  # after a restart or a SCRIPT FLUSH
            reply, acknowledged = _evalsha_and_wait(node, script, keys, args, replicas)
    except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
        _refresh_cluster_map(client)
        raise
    if acknowledged < replicas:
        raise NotDurable(
            f"{acknowledged} of {replicas} replicas acknowledged within {WAIT_TIMEOUT_MS} ms"
        )
    return reply


def _evalsha_and_wait(
    node: redis.Redis, script: Script, keys: list[str], args: list[Any], replicas: int
) -> list[Any]:
    pipe = node.pipeline(transaction=False)
    pipe.evalsha(script.sha, len(keys), *keys, *args)
    pipe.wait(replicas, WAIT_TIMEOUT_MS)
    return pipe.execute()


def _node_client(client: redis.Redis, key: str) -> redis.Redis:
    """The client itself, or on a cluster the plain client of the key's master
    (none known mid-failover: a ConnectionError, i.e. 503, like the cluster client's)."""
    if not isinstance(client, RedisCluster):
        return client
    try:
        return client.get_redis_connection(client.get_node_from_key(key))
    except RedisClusterException as exc:
        _refresh_cluster_map(client)
        raise redis.ConnectionError(f"redis cluster: {exc}") from exc


def _refresh_cluster_map(client: redis.Redis) -> None:
    """A node-level call bypasses the cluster client's MOVED and failover handling, so
    after an error ask the cluster for its slot map again; the next call then goes to
    whichever master now serves the room."""
    if not isinstance(client, RedisCluster):
        return
    try:
        client.nodes_manager.initialize()
    except (redis.RedisError, RedisClusterException):
        pass  # mid-failover: the cluster client retries on its own next call
