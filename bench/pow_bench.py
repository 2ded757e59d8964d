"""What proof of work at join costs: the honest browser, the server, the bot.

    python -m bench.pow_bench                      # about 2 minutes on 2 cores
    python -m bench.pow_bench --bits 12 16 --browser-runs 3

- Browser: Debian's Chromium (Playwright) runs the shipped Web Worker
  (`waiting_page/static/pow_worker.js`, WebCrypto SHA-256) on fresh
  challenges; wall time from postMessage to the answer.
- Server: one verification, as `join_gate` does it: parse and check the
  signed challenge, hash once (CPU, in-process), then spend it with a Redis
  `SET NX EX` on a throwaway redis-server (one round trip on 127.0.0.1).
- Bot: a Python hashlib loop, the same search on one core: CPU seconds per
  ticket (process time), measured over real solves and as expected from
  the hash rate (2^bits hashes per ticket on average).

Everything runs on 127.0.0.1 and stops by itself. Prints Markdown.
"""

from __future__ import annotations

import argparse
import hashlib
import signal
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

import redis

from oidc_adapter.web import join_cost

from .run import Processes, free_port, redis_server_binary

CHROMIUM = "/usr/bin/chromium"
SECRET = "bench-secret"
ROOM = "bench"
BROWSER_TIMEOUT_MS = 600_000
SOLVE = """async ([challenge, bits]) => {
  const worker = new Worker("/pow_worker.js");
  const started = performance.now();
  const counter = await new Promise((resolve) => {
    worker.onmessage = (e) => { if (e.data.counter !== undefined) resolve(e.data.counter); };
    worker.postMessage({ challenge, bits });
  });
  worker.terminate();
  return { counter, ms: performance.now() - started };
}"""
#: Hashes per second of the same worker on a challenge it cannot solve, from
#: its progress messages: steadier than solve times, whose spread is large.
RATE = """async (seconds) => {
  const worker = new Worker("/pow_worker.js");
  let first = null, firstAt = 0, tried = 0, last = 0;
  await new Promise((resolve) => {
    worker.onmessage = (e) => {
      if (e.data.tried === undefined) return;
      const now = performance.now();
      if (first === null) { first = e.data.tried; firstAt = now; }
      tried = e.data.tried; last = now;
      if (now - firstAt > seconds * 1000) resolve();
    };
    worker.postMessage({ challenge: "v1.rate.0.256.0123456789abcdef.0123456789abcdef", bits: 256 });
  });
  worker.terminate();
  return (tried - first) / ((last - firstAt) / 1000);
}"""
BROWSER_RATE_SECONDS = 3


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def _static_server() -> tuple[ThreadingHTTPServer, str]:
    """The waiting page's static files, including the worker, on 127.0.0.1."""
    folder = str(resources.files("waiting_page") / "static")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=folder))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def browser_solves(bits_list: Sequence[int], runs: int) -> tuple[float, dict[int, list[float]]]:
    """Chromium's hash rate, and seconds per solve per difficulty."""
    from playwright.sync_api import sync_playwright

    server, origin = _static_server()
    out: dict[int, list[float]] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = browser.new_page()
            page.set_default_timeout(BROWSER_TIMEOUT_MS)
            page.goto(origin + "/waiting.css")  # any page of that origin: a secure context
            rate = page.evaluate(RATE, BROWSER_RATE_SECONDS)
            for bits in bits_list:
                out[bits] = []
                for _ in range(runs):
                    challenge = join_cost.new_challenge(SECRET, ROOM, bits, int(time.time()))
                    found = page.evaluate(SOLVE, [challenge, bits])
                    assert join_cost.solves(challenge, str(found["counter"]), bits)
                    out[bits].append(found["ms"] / 1000)
            browser.close()
    finally:
        server.shutdown()
    return rate, out


def _search(challenge: str, bits: int, limit: int | None = None) -> int:
    """The bot's loop: the least work per hash Python allows. Returns hashes tried."""
    sha256, target, counter = hashlib.sha256, 1 << (256 - bits), 0
    while counter != limit:
        digest = sha256(f"{challenge}{counter}".encode()).digest()
        counter += 1
        if int.from_bytes(digest, "big") < target:
            break
    return counter


def bot_rate(hashes: int = 2_000_000) -> float:
    """SHA-256 of challenge + counter per CPU second, one core, hashlib."""
    challenge = join_cost.new_challenge(SECRET, ROOM, 20, int(time.time()))
    started = time.process_time()
    _search(challenge, 256, hashes)
    return hashes / (time.process_time() - started)


def bot_solves(bits: int, runs: int) -> list[float]:
    """CPU seconds per real solve with the hashlib loop."""
    out = []
    for _ in range(runs):
        challenge = join_cost.new_challenge(SECRET, ROOM, bits, int(time.time()))
        started = time.process_time()
        counter = _search(challenge, bits) - 1
        out.append(time.process_time() - started)
        assert join_cost.solves(challenge, counter, bits)
    return out


def server_cost(client: redis.Redis, rounds: int = 2000) -> tuple[float, float]:
    """µs per verification: (CPU only, CPU + the Redis SET NX EX round trip)."""
    now = int(time.time())
    solved = []
    for _ in range(rounds):
        challenge = join_cost.new_challenge(SECRET, ROOM, 8, now)
        counter = 0
        while not join_cost.solves(challenge, counter, 8):
            counter += 1
        solved.append((challenge, str(counter)))

    def check(challenge: str, counter: str) -> join_cost.Challenge:
        parsed = join_cost.parse_challenge(SECRET, ROOM, challenge, now)
        assert parsed is not None and join_cost.solves(parsed.text, counter, parsed.bits)
        return parsed

    started = time.perf_counter()
    for challenge, counter in solved:
        check(challenge, counter)
    cpu_us = (time.perf_counter() - started) / rounds * 1e6
    started = time.perf_counter()
    for challenge, counter in solved:
        assert join_cost.spend(client, check(challenge, counter), now)
    full_us = (time.perf_counter() - started) / rounds * 1e6
    return cpu_us, full_us


def _start_redis(procs: Processes, workdir: Path) -> redis.Redis:
    binary, _ = redis_server_binary(None)
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    procs.start(args, workdir / "redis.log", signal.SIGTERM)
    client = redis.Redis(port=port, decode_responses=True)
    deadline = time.monotonic() + 15
    while True:
        try:
            client.ping()
            return client
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _fmt(values: list[float]) -> str:
    median, mean = statistics.median(values), statistics.mean(values)
    return f"{median:.2f} (mean {mean:.2f}, max {max(values):.2f})"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", type=int, nargs="+", default=[12, 16, 18, 20])
    parser.add_argument("--browser-runs", type=int, default=6)
    parser.add_argument("--bot-runs", type=int, default=8)
    args = parser.parse_args(argv)

    procs = Processes()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cpu_us, full_us = server_cost(_start_redis(procs, Path(tmp)))
    finally:
        procs.stop_all()
    rate = bot_rate()
    browser_rate, browser = browser_solves(args.bits, args.browser_runs)
    print(f"Server, one verification: {cpu_us:.1f} µs CPU; {full_us:.1f} µs with Redis SET NX EX")
    print(f"Chromium worker (WebCrypto): {browser_rate / 1e3:.0f} k hashes per second")
    print(f"Bot (hashlib, one core): {rate / 1e6:.2f} M hashes per CPU second\n")
    print(
        "| bits | Chromium, s: expected | Chromium, s: median (mean, max) "
        "| bot CPU-s per ticket: expected | bot, CPU-s: median (mean, max) |"
    )
    print("| ---: | ---: | --- | ---: | --- |")
    for bits in args.bits:
        bot = bot_solves(bits, args.bot_runs)
        expected = f"{2**bits / browser_rate:.2f} | {_fmt(browser[bits])} | {2**bits / rate:.3f}"
        print(f"| {bits} | {expected} | {_fmt(bot)} |")
    print(f"\n({args.browser_runs} browser solves and {args.bot_runs} bot solves per difficulty)")


if __name__ == "__main__":
    main()
