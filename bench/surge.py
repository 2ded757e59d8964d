"""Surge benchmark: simulated browsers arrive at a rate, wait as the real page
does, and claim their turn, against our app under gunicorn.

    python -m bench.surge --rate 100 --seconds 20 --hold 20
    python -m bench.surge --users 3000 --rate 150        # --seconds = users / rate
    python -m bench.surge --find-knee --seconds 10 --hold 15

Run from the repository root; needs `pip install -e .[bench]` (aiohttp) and a
`redis-server`. The servers are bench/run.py's (`Bench`): a throwaway Redis
and `bench.server app` with production's gunicorn options, all on 127.0.0.1,
stopped on exit, Ctrl-C, SIGTERM or an error.

Each browser, like waiting_page/static/waiting.js: GET /authorize (a real
authorization request of a registered client; keeps the ticket cookie), the
page's script and stylesheet once, then two loops with the page's own
intervals and jitter, read from the page: the room state every
`roomEvery`..1.5×`roomEvery` s and the ticket status (the heartbeat) every
0.75..1×`beatEvery` s, with an early beat when the room state says our number
came up; 429/5xx back off exponentially or for Retry-After. Once the status
says served, it follows the continue URL to the 302 carrying a code (the
claim) and leaves. Arrivals are evenly spaced over `--seconds`; the browsers
then keep waiting for `--hold` seconds, which is where the cost of a waiting
user per minute is read. The load generator shares the cores with the servers.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import os
import random
import re
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import requests

from bench.login_bench import authorization_query
from bench.run import (
    ADMIN_TOKEN,
    Bench,
    Processes,
    _redis_cpu,
    _terminate_cleanly,
    tree_cpu_seconds,
)

ROOM = "surge"
CLIENT = "surge-rp"
SECRET = "surge-client-secret-0123456789"
REDIRECT = "https://rp.example.com/cb"
#: The knee: the arrival rate at which some route's p99 passes this.
KNEE_P99_SECONDS = 0.5
REQUEST_TIMEOUT_SECONDS = 10.0
#: waiting.js: caps on its back-off.
MAX_ROOM_BACKOFF = 60
MAX_RETRY_AFTER = 600
MAX_RUN_SECONDS = 60
#: The knee search stops here even if nothing is slow yet.
MAX_KNEE_RATE = 5000
#: A ticket status answer the page acts on: the state, or the place is gone.
ENDS = (200, 404, 410)
ROUTES = ("authorize", "static", "room state", "ticket status", "claim")


def jitter(base: float, low: float, high: float) -> float:
    return base * (low + random.random() * (high - low))  # noqa: S311 (timing, not secrets)


@dataclass
class Tally:
    """What the browsers of one run saw, per route."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter = field(default_factory=Counter)
    arrived: int = 0
    #: Arrivals answered with the waiting page or straight with a code.
    absorbed: int = 0
    last_arrival_answer: float = 0.0
    claimed: int = 0
    waiting: int = 0
    #: Answers received, all routes.
    answers: int = 0
    #: Places that ended before their turn was claimed (404/410), e.g. missed beats.
    lost: int = 0


class Page:
    """The data the waiting page's script starts from."""

    def __init__(self, body: str):
        attrs = {}
        for name, double, single in re.findall(r'\b(data-[\w-]+)=(?:"([^"]*)"|\'([^\']*)\')', body):
            attrs[name] = html.unescape(double or single)
        self.cfg = json.loads(attrs["data-wr"])
        self.status_url = attrs["data-status-url"]
        self.continue_url = attrs["data-continue-url"]
        self.assets = re.findall(r'<(?:script src|link rel="stylesheet" href)="([^"]+)"', body)


class Browser:
    """One visitor: the arrival, the two polling loops, the claim; it waits
    until served or until the run cancels it."""

    def __init__(self, session: aiohttp.ClientSession, tally: Tally):
        self.http = session
        self.tally = tally
        self.cookies: dict[str, str] = {}
        self.fails = {"room": 0, "beat": 0}

    async def get(
        self, route: str, path: str, accept: str, ok: tuple[int, ...] = (200,)
    ) -> tuple[int, dict, bytes] | None:
        """The answer, counted as an error unless its status is one of `ok`."""
        headers = {"Accept": accept}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        start = time.perf_counter()
        try:
            async with self.http.get(path, headers=headers, allow_redirects=False) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.tally.errors[route, type(exc).__name__] += 1
            return None
        self.tally.latencies[route].append(time.perf_counter() - start)
        self.tally.answers += 1
        for cookie in response.headers.getall("Set-Cookie", []):
            name, _, value = cookie.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value
        if response.status not in ok:
            self.tally.errors[route, str(response.status)] += 1
        return response.status, dict(response.headers), body

    async def visit(self) -> None:
        self.tally.arrived += 1
        query = authorization_query(CLIENT, REDIRECT)
        got = await self.get("authorize", f"/authorize?{query}", "text/html", (200, 302))
        self.tally.last_arrival_answer = time.perf_counter()
        if got is None or got[0] not in (200, 302):
            return
        self.tally.absorbed += 1
        if got[0] == 302:
            self.claimed(got[1])
            return
        page = Page(got[2].decode())
        for asset in page.assets:
            await self.get("static", asset, "*/*")
        self.tally.waiting += 1
        try:
            await self.wait(page)
        finally:
            self.tally.waiting -= 1

    def claimed(self, headers: dict) -> None:
        code = parse_qs(urlsplit(headers.get("Location", "")).query).get("code")
        if code:
            self.tally.claimed += 1
        else:
            self.tally.errors["claim", "no code"] += 1

    async def wait(self, page: Page) -> None:
        cfg = page.cfg
        room_every, beat_every = cfg["roomEvery"], cfg["beatEvery"]
        now = time.perf_counter()
        due = {"room": now + jitter(room_every, 0.5, 1), "beat": now + jitter(beat_every, 0.75, 1)}
        last_beat = now
        while True:
            name = min(due, key=due.__getitem__)
            await asyncio.sleep(max(0.0, due[name] - time.perf_counter()))
            if name == "room":
                got = await self.get("room state", cfg["roomUrl"], "application/json")
                if self.busy(got, (200,), "room", due, room_every, MAX_ROOM_BACKOFF):
                    continue
                due["room"] = time.perf_counter() + jitter(room_every, 1, 1.5)
                if json.loads(got[2]).get("now_serving", 0) >= cfg["number"]:
                    if time.perf_counter() - last_beat > 1:
                        due["beat"] = time.perf_counter()
                continue
            last_beat = time.perf_counter()
            got = await self.get("ticket status", page.status_url, "application/json", ENDS)
            if self.busy(got, ENDS, "beat", due, beat_every, 2 * beat_every):
                continue
            if got[0] in (404, 410):
                self.tally.lost += 1
                return
            ticket = json.loads(got[2])
            if ticket.get("served"):
                claim = await self.get("claim", page.continue_url, "text/html", (302,))
                if claim is not None and claim[0] == 302:
                    self.claimed(claim[1])
                return
            due["beat"] = time.perf_counter() + jitter(beat_every, 0.75, 1)

    def busy(
        self, got, ok: tuple[int, ...], name: str, due: dict[str, float], base: float, cap: float
    ) -> bool:
        """No answer or not one of `ok`: Retry-After wins, else exponential
        back-off (waiting.js)."""
        if got is not None and got[0] in ok:
            self.fails[name] = 0
            return False
        self.fails[name] += 1
        header = got[1].get("Retry-After", "") if got is not None else ""
        if header.isdigit():
            wait = min(MAX_RETRY_AFTER, max(1, int(header))) + random.random() * 2  # noqa: S311
        else:
            wait = jitter(min(cap, base * 2 ** self.fails[name]), 0.5, 1)
        due[name] = time.perf_counter() + wait
        return True


@dataclass
class Counters:
    """Server-side CPU seconds so far, and our own."""

    wall: float
    app: float
    redis: float
    client: float

    @classmethod
    def take(cls, bench: Bench, server_pid: int) -> Counters:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return cls(
            time.perf_counter(),
            tree_cpu_seconds(server_pid),
            _redis_cpu(bench.redis.info("cpu")),
            usage.ru_utime + usage.ru_stime,
        )

    def percent(self, later: Counters) -> dict[str, float]:
        wall = later.wall - self.wall
        return {
            "app": 100 * (later.app - self.app) / wall,
            "redis": 100 * (later.redis - self.redis) / wall,
            "client": 100 * (later.client - self.client) / wall,
        }


@dataclass
class RunResult:
    rate: float
    seconds: float
    hold: float
    tally: Tally
    absorbed: float
    arrival_cpu: dict[str, float]
    hold_cpu: dict[str, float]
    waiting_in_hold: float
    waiting_at_end: int
    #: The machine's 1-minute load average as the run started (others' work too).
    load_average: float
    #: App CPU-milliseconds per browser sent, over the arrival phase (the polls
    #: of those already waiting included).
    app_ms_per_arrival: float
    #: CPU-milliseconds per waiting user per minute, during the hold.
    app_ms_per_user_minute: float | None
    redis_ms_per_user_minute: float | None
    #: App CPU-microseconds per answer during the hold (to compare with bench.run).
    app_us_per_request_in_hold: float | None

    def p(self, route: str, q: float) -> float | None:
        values = sorted(self.tally.latencies.get(route, []))
        if not values:
            return None
        return values[min(len(values) - 1, int(q * len(values)))]

    @property
    def worst_p99(self) -> float:
        return max((self.p(r, 0.99) or 0.0) for r in ROUTES)

    @property
    def error_count(self) -> int:
        return sum(self.tally.errors.values())


async def surge(
    bench: Bench, pid: int, args: argparse.Namespace, rate: float, hold: float
) -> RunResult:
    """Evenly spaced arrivals for `seconds`, then `hold` seconds of waiting only."""
    tally = Tally()
    seconds = args.seconds
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    connector = aiohttp.TCPConnector(limit=args.connections)
    async with aiohttp.ClientSession(
        bench.server("app").base_url,
        connector=connector,
        timeout=timeout,
        cookie_jar=aiohttp.DummyCookieJar(),
    ) as http:
        load_average = os.getloadavg()[0]
        start = time.perf_counter()
        stop_at = start + seconds + hold
        before = Counters.take(bench, pid)
        tasks = set()
        users = round(rate * seconds)
        sent = 0
        while sent < users:
            # Every arrival that is due, even if the loop woke up late.
            due = min(users, 1 + int((time.perf_counter() - start) * rate))
            for _ in range(due - sent):
                task = asyncio.create_task(Browser(http, tally).visit())
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            sent = due
            await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))
        await asyncio.sleep(max(0.0, start + seconds - time.perf_counter()))
        arrivals_end = Counters.take(bench, pid)
        in_line, answers = tally.waiting, tally.answers
        await asyncio.sleep(max(0.0, stop_at - time.perf_counter()))
        after = Counters.take(bench, pid)
        waiting_in_hold = (in_line + tally.waiting) / 2
        waiting_at_end = tally.waiting
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    answered = tally.last_arrival_answer - start
    per_user_minute = redis_per_user_minute = per_request = None
    if hold and waiting_in_hold:
        minutes = waiting_in_hold * (after.wall - arrivals_end.wall) / 60
        per_user_minute = 1000 * (after.app - arrivals_end.app) / minutes
        redis_per_user_minute = 1000 * (after.redis - arrivals_end.redis) / minutes
        per_request = 1e6 * (after.app - arrivals_end.app) / max(1, tally.answers - answers)
    return RunResult(
        rate=rate,
        seconds=seconds,
        hold=hold,
        tally=tally,
        absorbed=tally.absorbed / max(answered, seconds),
        arrival_cpu=before.percent(arrivals_end),
        hold_cpu=arrivals_end.percent(after) if hold else {},
        waiting_in_hold=waiting_in_hold,
        waiting_at_end=waiting_at_end,
        load_average=load_average,
        app_ms_per_arrival=1000 * (arrivals_end.app - before.app) / max(1, tally.arrived),
        app_ms_per_user_minute=per_user_minute,
        redis_ms_per_user_minute=redis_per_user_minute,
        app_us_per_request_in_hold=per_request,
    )


def _num(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{1000 * value:,.0f}"


def route_table(results: list[RunResult]) -> str:
    lines = [
        "| arrivals/s offered | route | requests | p50 ms | p99 ms | errors |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        for route in ROUTES:
            count = len(r.tally.latencies.get(route, []))
            errors = sum(n for (rt, _), n in r.tally.errors.items() if rt == route)
            if count or errors:
                lines.append(
                    f"| {r.rate:g} | {route} | {count:,} | {_ms(r.p(route, 0.5))} "
                    f"| {_ms(r.p(route, 0.99))} | {errors:,} |"
                )
    return "\n".join(lines)


def summary_table(results: list[RunResult]) -> str:
    lines = [
        "| arrivals/s offered | load avg | browsers sent | absorbed/s | claimed | waiting at end "
        "| lost | errors | app CPU ms per arrival "
        "| app CPU % (arrivals / hold) | Redis CPU % (arrivals / hold) | client CPU % "
        "| app CPU ms per waiting user·min | Redis CPU ms per waiting user·min "
        "| app CPU µs per request in hold |",
        "|" + " ---: |" * 15,
    ]
    for r in results:
        per_user = _num(r.app_ms_per_user_minute, ".1f")
        redis_user = _num(r.redis_ms_per_user_minute, ".2f")
        per_request = _num(r.app_us_per_request_in_hold, ",.0f")
        lines.append(
            f"| {r.rate:g} | {r.load_average:.1f} | {r.tally.arrived:,} | {r.absorbed:,.0f} "
            f"| {r.tally.claimed:,} | {r.waiting_at_end:,} | {r.tally.lost:,} "
            f"| {r.error_count:,} | {r.app_ms_per_arrival:.1f} "
            f"| {r.arrival_cpu['app']:.0f} / {_num(r.hold_cpu.get('app'), '.0f')} "
            f"| {r.arrival_cpu['redis']:.0f} / {_num(r.hold_cpu.get('redis'), '.0f')} "
            f"| {r.arrival_cpu['client']:.0f} | {per_user} | {redis_user} | {per_request} |"
        )
    return "\n".join(lines)


def error_kinds(results: list[RunResult]) -> str:
    """Which errors: an HTTP status, or the client's exception (time-out, refused)."""
    parts = []
    for r in results:
        kinds = ", ".join(f"{route} {kind} ×{n}" for (route, kind), n in r.tally.errors.items())
        parts.append(f"{r.rate:g}/s: {kinds or 'none'}")
    return "Errors by kind: " + "; ".join(parts) + "."


def capacity(good: float, steps: list[RunResult], results: list[RunResult], workers: int) -> str:
    """The sizing line: the measured knee, and what the measured CPU costs per
    arrival and per waiting user would fill a 2-core host (2,000 CPU-ms a
    second, 120,000 a minute) or one Redis core with if nothing else ran there."""
    limit = f"{1000 * KNEE_P99_SECONDS:.0f} ms"
    line = (
        f"Measured: one 2-core host (gunicorn {workers} workers, Redis and the load generator "
        f"on it) absorbed {good:g} arrivals/s with every route's p99 within {limit}"
    )
    figures = (
        (
            [s.app_ms_per_arrival for s in steps if not too_slow(s)],
            "app CPU-ms per arrival (page, assets and the polls meanwhile), so its 2 cores "
            "alone would carry about {:,.0f} arrivals/s",
            2000,
        ),
        (
            [r.app_ms_per_user_minute for r in results if r.app_ms_per_user_minute],
            "app CPU-ms per waiting user per minute, so about {:,.0f} users waiting per host",
            120_000,
        ),
        (
            [r.redis_ms_per_user_minute for r in results if r.redis_ms_per_user_minute],
            "Redis CPU-ms per waiting user per minute, so about {:,.0f} waiting users per "
            "Redis core",
            60_000,
        ),
    )
    for values, text, budget_ms in figures:
        if values:
            cost = statistics.median(values)
            line += f"; {cost:.2f} " + text.format(budget_ms / cost)
    return line + " (medians of the runs)."


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=50.0, help="arrivals per second")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds of arrivals")
    p.add_argument("--users", type=int, help="arrivals in all (sets --seconds = users / rate)")
    p.add_argument("--hold", type=float, default=15.0, help="seconds of waiting after arrivals")
    p.add_argument("--find-knee", action="store_true", help="double --rate until a p99 passes "
                   "500 ms, then run at 1×, 2× and 4× that rate")  # fmt: skip
    p.add_argument("--admit-per-minute", type=int, default=120, help="the room's rate")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    p.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    p.add_argument("--connections", type=int, default=64, help="client connection pool")
    p.add_argument("--redis-server", help="redis-server binary (default: newest on PATH)")
    p.add_argument("--append", type=Path, help="append the Markdown section to this file")
    args = p.parse_args(argv)
    if args.users:
        args.seconds = args.users / args.rate
    if args.seconds + args.hold > MAX_RUN_SECONDS:
        p.error(f"--seconds + --hold must stay within {MAX_RUN_SECONDS} s per run")
    return args


def start_app(bench: Bench, admit_per_minute: int) -> int:
    """Our app with a surge room and a relying party, started by the Bench; its pid."""
    bench.config_data["rooms"] = {
        **bench.config_data["rooms"],
        ROOM: {"admit_per_minute": admit_per_minute, "max_active": 0},
    }
    bench.config_data["clients"] = {
        CLIENT: {"secret": SECRET, "redirect_uris": [REDIRECT], "room": ROOM}
    }
    return bench.server("app").pid


def reset_room(bench: Bench) -> None:
    """A fresh, empty line for each run."""
    answer = requests.post(
        f"{bench.server('app').base_url}/admin/rooms/{ROOM}/reset",
        json={"confirm": ROOM},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=10,
    )
    answer.raise_for_status()


def run_once(bench: Bench, pid: int, args: argparse.Namespace, rate: float, hold: float):
    reset_room(bench)
    print(f"{rate:g} arrivals/s for {args.seconds:g} s, hold {hold:g} s ...", file=sys.stderr)
    result = asyncio.run(surge(bench, pid, args, rate, hold))
    print(
        f"  absorbed {result.absorbed:,.0f}/s, worst p99 {1000 * result.worst_p99:,.0f} ms, "
        f"{result.error_count} errors",
        file=sys.stderr,
    )
    return result


def find_knee(
    bench: Bench, pid: int, args: argparse.Namespace
) -> tuple[float, float, list[RunResult]]:
    """(last rate within the limit, first rate past it, the runs): doubling from
    --rate (arrivals only) until some route's p99 passes the limit or errors
    appear, then one step halfway between the last two."""
    steps: list[RunResult] = []
    good, rate = 0.0, args.rate
    while rate <= MAX_KNEE_RATE:
        step = run_once(bench, pid, args, rate, 0)
        steps.append(step)
        if too_slow(step):
            break
        good, rate = rate, 2 * rate
    if good:
        middle = run_once(bench, pid, args, (good + rate) / 2, 0)
        steps.append(middle)
        if too_slow(middle):
            rate = middle.rate
        else:
            good = middle.rate
    return good, rate, steps


def too_slow(result: RunResult) -> bool:
    return result.worst_p99 > KNEE_P99_SECONDS or result.error_count > 0


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    procs = Processes()
    server_args = argparse.Namespace(
        redis_server=args.redis_server,
        wait_replicas=0,
        workers=args.workers,
        threads=args.threads,
        access_log=False,
        shared_accept=False,
    )
    with _terminate_cleanly(), tempfile.TemporaryDirectory(prefix="wr-surge-") as tmp:
        try:
            bench = Bench(server_args, procs, Path(tmp))
            pid = start_app(bench, args.admit_per_minute)
            knee_steps: list[RunResult] = []
            good = knee = args.rate
            if args.find_knee:
                good, knee, knee_steps = find_knee(bench, pid, args)
                rates = [knee, 2 * knee, 4 * knee]
            else:
                rates = [args.rate]
            results = [run_once(bench, pid, args, rate, args.hold) for rate in rates]
        finally:
            procs.stop_all()
    command = "python -m bench.surge " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        "`" + command.strip() + "`: "
        f"gunicorn {args.workers} workers × {args.threads} threads, room admitting "
        f"{args.admit_per_minute}/min, arrivals for {args.seconds:g} s then "
        f"{args.hold:g} s of waiting, {args.connections} client connections; client, "
        f"gunicorn and Redis on the same {bench.effective_cores:.1f} effective cores "
        f"(load average {bench.load_average:.1f} before the run).",
        "",
    ]
    if knee_steps:
        lines += [
            f"Finding the knee (arrivals only, {args.seconds:g} s each):",
            "",
            summary_table(knee_steps),
            "",
        ]
    lines += [summary_table(results), "", route_table(results), "", error_kinds(results), ""]
    if args.find_knee:
        lines += [
            f"p99 passes {1000 * KNEE_P99_SECONDS:.0f} ms at {knee:g} arrivals/s "
            f"(within it at {good:g}/s).",
            "",
            capacity(good, knee_steps, results, args.workers),
            "",
        ]
    section = "\n".join(lines)
    print(section)
    if args.append:
        with args.append.open("a", encoding="utf-8") as out:
            out.write("\n" + section)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # servers are already stopped by main()
        sys.exit(130)
