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
to the node that owns the room's slot (a cluster pipeline refuses FCALL and
EVALSHA).
"""

from __future__ import annotations

from typing import Any

import redis

from .library import Command
from .nodes import node_client, refresh_cluster_map

#: The scripts whose success a user is told about.
DURABLE_SCRIPTS = frozenset({"take", "claim"})
#: How long a take waits for replicas; well below the client's socket timeout
#: (2 s), and on a healthy network a replica acknowledges in about a millisecond.
WAIT_TIMEOUT_MS = 500


class NotDurable(redis.ConnectionError):
    """Too few replicas acknowledged a write in time. A ConnectionError, so every
    handler that turns an unreachable store into 503 + Retry-After handles it."""


def run_durably(command: Command, client: redis.Redis, key: str, replicas: int) -> Any:
    """Run `command` (a room script whose keys share `key`'s slot), then WAIT for
    `replicas` on the same connection: one round trip."""
    pipe = node_client(client, key).pipeline(transaction=False)
    pipe.execute_command(*command)
    pipe.wait(replicas, WAIT_TIMEOUT_MS)
    try:
        # Each reply as the server gave it, so the caller sees the script's own
        # error (e.g. "Function not found"), not the pipeline's wrapping of it.
        reply, acknowledged = pipe.execute(raise_on_error=False)
        for answer in (reply, acknowledged):
            if isinstance(answer, Exception):
                raise answer
    except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
        refresh_cluster_map(client)
        raise
    if acknowledged < replicas:
        raise NotDurable(
            f"{acknowledged} of {replicas} replicas acknowledged within {WAIT_TIMEOUT_MS} ms"
        )
    return reply
