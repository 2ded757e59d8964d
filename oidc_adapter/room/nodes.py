"""The one server that holds a room, for what a cluster client cannot route:
a pipeline with WAIT on the same connection, loading code where it is missing."""

from __future__ import annotations

import redis
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException


def node_client(client: redis.Redis, key: str) -> redis.Redis:
    """The client itself, or on a cluster the plain client of the key's master
    (none known mid-failover: a ConnectionError, i.e. 503, like the cluster client's)."""
    if not isinstance(client, RedisCluster):
        return client
    try:
        return client.get_redis_connection(client.get_node_from_key(key))
    except RedisClusterException as exc:
        refresh_cluster_map(client)
        raise redis.ConnectionError(f"redis cluster: {exc}") from exc


def refresh_cluster_map(client: redis.Redis) -> None:
    """A node-level call bypasses the cluster client's MOVED and failover handling, so
    after an error ask the cluster for its slot map again; the next call then goes to
    whichever master now serves the room."""
    if not isinstance(client, RedisCluster):
        return
    try:
        client.nodes_manager.initialize()
    except (redis.RedisError, RedisClusterException):
        pass  # mid-failover: the cluster client retries on its own next call
