"""Highly available Redis set-ups for the tests, from real servers on loopback ports.

`RedisClusterSet` is a Redis Cluster created the way an operator creates one
(`redis-cli --cluster create`); `RedisSentinelSet` is one master, one replica
and three sentinels. Both use Debian's redis-server 7 when it is installed
(`.ci/run` installs it), and each waits until the set-up is complete (every
slot served, every sentinel aware of the replica and of the other sentinels)
before a test may use it, so a failover test never races the set-up itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import redis

from oidc_adapter.redis_connection import ClusterClient, cluster_client
from tests.e2e.servers import wait_until
from tests.helpers import RedisServer, debian_redis_binary, free_port, require

#: Long enough for a loaded CI machine, short enough that a failover test is quick.
SETTLE_SECONDS = 30.0
#: Replicas sync at once instead of after Redis' default 5 s wait for more replicas.
QUICK_SYNC = ["--repl-diskless-sync-delay", "0"]


def _redis_binaries() -> tuple[str, str]:
    server, cli = debian_redis_binary("redis-server"), debian_redis_binary("redis-cli")
    require(server is not None and cli is not None, "redis-server / redis-cli not installed")
    return server, cli  # type: ignore[return-value]


def _answers(port: int, *command: str) -> object:
    """One command on one node; None while it does not answer."""
    client = redis.Redis(port=port, decode_responses=True, socket_timeout=1.0)
    try:
        return client.execute_command(*command)
    except redis.RedisError:
        return None
    finally:
        client.close()


class SpanningClusterClient(ClusterClient):
    """Tests list keys with KEYS; a cluster client sends it to one node only."""

    def keys(self, pattern: str = "*", **kwargs: object) -> list[str]:
        return super().keys(pattern, target_nodes=self.PRIMARIES, **kwargs)


class RedisClusterSet:
    """`masters` masters with `replicas` replicas each, as one Redis Cluster."""

    def __init__(
        self, workdir: Path, masters: int = 3, replicas: int = 0, node_timeout_ms: int = 1500
    ):
        self.binary, self.cli = _redis_binaries()
        self.replicas = replicas
        flags = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        flags += ["--cluster-node-timeout", str(node_timeout_ms), *QUICK_SYNC]
        # The bus port defaults to port + 10000, which may be taken or past 65535.
        self.nodes = [
            RedisServer(
                workdir / f"node{i}",
                extra_args=[*flags, "--cluster-port", str(free_port())],
                binary=self.binary,
            )
            for i in range(masters * (1 + replicas))
        ]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self) -> RedisClusterSet:
        for node in self.nodes:
            node.start()
        create = [self.cli, "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in self.nodes)]
        create += ["--cluster-replicas", str(self.replicas), "--cluster-yes"]
        done = subprocess.run(create, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, f"redis-cli --cluster create failed:\n{done.stdout}"
        wait_until(self.settled, SETTLE_SECONDS, "every cluster node to serve every slot")
        return self

    def live_nodes(self) -> list[RedisServer]:
        return [n for n in self.nodes if n.proc is not None]

    def settled(self) -> bool:
        """Every live node sees the cluster healthy, and every replica is in sync (a
        replica still loading its first copy cannot take over a dead master)."""
        for node in self.live_nodes():
            info = _answers(node.port, "CLUSTER", "INFO") or ""
            if "cluster_state:ok" not in str(info) or not _in_sync(node.port):
                return False
        return True

    def masters(self) -> list[RedisServer]:
        """The live nodes that are masters now (a failover changes this)."""
        return [n for n in self.live_nodes() if _answers(n.port, "ROLE")[0] == "master"]

    def master_of(self, key: str) -> RedisServer:
        """The live master serving `key`'s slot, as the cluster itself says."""
        port = self.live_nodes()[0].port
        slot = int(_answers(port, "CLUSTER", "KEYSLOT", key))  # type: ignore[arg-type]
        for start, end, master, *_ in _answers(port, "CLUSTER", "SLOTS") or []:  # type: ignore[misc]
            if start <= slot <= end:
                return next(n for n in self.nodes if n.port == int(master[1]))
        raise AssertionError(f"no master serves slot {slot}")

    def replicas_of(self, master: RedisServer) -> list[RedisServer]:
        def follows(node: RedisServer) -> bool:
            role = _answers(node.port, "ROLE") or [""]
            return role[0] == "slave" and int(role[2]) == master.port  # type: ignore[index]

        return [n for n in self.live_nodes() if follows(n)]

    def client(self) -> SpanningClusterClient:
        """The app's own cluster client, plus KEYS over the whole keyspace."""
        return cluster_client(self.url, SpanningClusterClient)  # type: ignore[return-value]

    def flush(self) -> None:
        """FLUSHALL on every master: a cluster client cannot send it to all at once."""
        for node in self.masters():
            node.client().flushall()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def cut_replication(master: RedisServer, replicas: list[RedisServer]) -> None:
    """Freeze the replicas (SIGSTOP) and drop their links: from now on the master
    acknowledges writes that no replica will ever see, the window an asynchronous
    failover loses. A frozen replica cannot reconnect; `thaw` lets it run again."""
    for replica in replicas:
        os.kill(replica.proc.pid, signal.SIGSTOP)  # type: ignore[union-attr]
    master.client().client_kill_filter(_type="replica")


def thaw(replicas: list[RedisServer]) -> None:
    for replica in replicas:
        os.kill(replica.proc.pid, signal.SIGCONT)  # type: ignore[union-attr]


def _in_sync(port: int) -> bool:
    """A master, or a replica whose link to its master is up."""
    info = _answers(port, "INFO", "replication") or {}
    return info.get("role") == "master" or info.get("master_link_status") == "up"  # type: ignore[union-attr]


class Sentinel:
    """One redis-sentinel process watching SERVICE, with its own config file."""

    def __init__(self, workdir: Path, binary: str, master_port: int, down_after_ms: int):
        self.workdir = workdir
        self.binary = binary
        self.port = free_port()
        self.master_port = master_port
        self.down_after_ms = down_after_ms
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        service = RedisSentinelSet.SERVICE
        conf = self.workdir / "sentinel.conf"
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.workdir}\n"
            f"logfile {self.workdir / 'sentinel.log'}\n"
            f"sentinel monitor {service} 127.0.0.1 {self.master_port} 2\n"
            f"sentinel down-after-milliseconds {service} {self.down_after_ms}\n"
            f"sentinel failover-timeout {service} {self.down_after_ms * 5}\n"
            f"sentinel parallel-syncs {service} 1\n"
        )
        self.proc = subprocess.Popen(
            [self.binary, str(conf), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: _answers(self.port, "PING"), SETTLE_SECONDS, "a sentinel to start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


class RedisSentinelSet:
    """One master, `replicas` replicas and three sentinels (quorum 2)."""

    SERVICE = "mymaster"

    def __init__(self, workdir: Path, replicas: int = 1, down_after_ms: int = 1000):
        binary, _ = _redis_binaries()
        self.master = RedisServer(workdir / "master", binary=binary, extra_args=QUICK_SYNC)
        self.replicas = [
            RedisServer(
                workdir / f"replica{i}",
                binary=binary,
                extra_args=[*QUICK_SYNC, "--replicaof", "127.0.0.1", str(self.master.port)],
            )
            for i in range(replicas)
        ]
        self.sentinels = [
            Sentinel(workdir / f"sentinel{i}", binary, self.master.port, down_after_ms)
            for i in range(3)
        ]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.SERVICE}/0"

    def start(self) -> RedisSentinelSet:
        for server in (self.master, *self.replicas):
            server.start()
        for sentinel in self.sentinels:
            sentinel.start()
        wait_until(self.settled, SETTLE_SECONDS, "the replica to sync and the sentinels to meet")
        return self

    def settled(self) -> bool:
        """The replicas are in sync and every sentinel knows them and both other
        sentinels: before that, killing the master would find nobody to fail over to."""
        if not all(_in_sync(replica.port) for replica in self.replicas):
            return False
        for sentinel in self.sentinels:
            known = _answers(sentinel.port, "SENTINEL", "REPLICAS", self.SERVICE) or []
            others = _answers(sentinel.port, "SENTINEL", "SENTINELS", self.SERVICE) or []
            if len(known) != len(self.replicas) or len(others) != 2:  # type: ignore[arg-type]
                return False
        return True

    def master_port(self) -> int | None:
        """Where the sentinels say the master is now."""
        found = _answers(
            self.sentinels[0].port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.SERVICE
        )
        return int(found[1]) if found else None  # type: ignore[index]

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        for server in (*self.replicas, self.master):
            server.stop()
