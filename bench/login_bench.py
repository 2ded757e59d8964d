"""Benchmark of the OIDC login: complete logins per second for users whose
ticket is already served, and ID tokens signed per second.

    python -m bench.login_bench [--seconds 10] [--clients 4] [--append docs/benchmarks.md]

A login is the relying party's whole round: GET /authorize (302 with a
code) → POST /token (client_secret_basic) → GET /userinfo, over real HTTP on
127.0.0.1 against `oidc-adapter`'s gunicorn settings. Each client process
first logs in once so its browser holds a served ticket, then repeats
logins until the time is up; the clients share the machine's cores with the
server and Redis, as the other benchmarks do. Signing runs in this process.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import multiprocessing
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import psutil
import requests

from oidc_adapter.keys import KeyStore
from oidc_adapter.oidc.tokens import TokenIssuer
from tests.helpers import RedisServer, free_port

ROOM = "open"
CLIENT = "bench-rp"
SECRET = "bench-client-secret-0123456789"
REDIRECT = "https://rp.example.com/cb"
TARGET_LOGINS = 400  # issue 13


def _config(redis_url: str, keys_dir: Path, port: int, alg: str) -> dict:
    return {
        "signing_alg": alg,
        "issuer": f"http://localhost:{port}",
        "redis_url": redis_url,
        "keys_dir": str(keys_dir),
        "admin_token": "bench-admin-token-0123456789",
        "secret_key": secrets.token_urlsafe(40),
        "rooms": {ROOM: {"admit_per_minute": 1_000_000, "max_active": 0}},
        "clients": {
            CLIENT: {
                "secret": SECRET,
                "redirect_uris": [REDIRECT],
                "room": ROOM,
                "id_token_signed_response_alg": alg,
            }
        },
    }


def authorization_query(client_id: str = CLIENT, redirect_uri: str = REDIRECT) -> str:
    """A relying party's fresh authorization request (code flow, new state and nonce)."""
    return urlencode(
        {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": "openid",
            "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_urlsafe(8),
        }
    )


class _Browser:
    """A lean keep-alive client holding the ticket cookie, so the load generator
    spends as little of the shared cores as it can."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port)
        self.cookie = ""
        self.basic = "Basic " + base64.b64encode(f"{CLIENT}:{SECRET}".encode()).decode()

    def request(self, method: str, path: str, body: str | None = None, **headers: str):
        if self.cookie:
            headers["Cookie"] = self.cookie
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return response, data

    def login(self) -> None:
        answer, _ = self.request("GET", f"/authorize?{authorization_query()}")
        code = parse_qs(urlsplit(answer.getheader("Location")).query)["code"][0]
        form = urlencode(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
        )
        _, body = self.request("POST", "/token", form, Authorization=self.basic)
        token = json.loads(body)["access_token"]
        info, _ = self.request("GET", "/userinfo", Authorization=f"Bearer {token}")
        if info.status != 200:
            raise RuntimeError(f"userinfo answered {info.status}")


def _client(port: int, start_at: float, stop_at: float, out: multiprocessing.Queue) -> None:
    browser = _Browser(port)
    browser.login()  # from now on this browser's ticket is served
    while time.time() < start_at:
        time.sleep(0.001)
    done = 0
    while time.time() < stop_at:
        browser.login()
        done += 1
    out.put(done)


def logins_per_second(port: int, clients: int, seconds: float) -> float:
    out: multiprocessing.Queue = multiprocessing.Queue()
    start_at = time.time() + 2
    stop_at = start_at + seconds
    procs = [
        multiprocessing.Process(target=_client, args=(port, start_at, stop_at, out))
        for _ in range(clients)
    ]
    for proc in procs:
        proc.start()
    total = sum(out.get(timeout=seconds + 60) for _ in procs)
    for proc in procs:
        proc.join()
    return total / seconds


def _cpu_seconds(server_pid: int, redis: RedisServer) -> tuple[float, float]:
    """CPU seconds used so far by the gunicorn tree and by Redis."""
    root = psutil.Process(server_pid)
    app = 0.0
    for proc in [root, *root.children(recursive=True)]:
        times = proc.cpu_times()
        app += times.user + times.system
    info = redis.client().info("cpu")
    return app, info["used_cpu_user"] + info["used_cpu_sys"]


def signing_rates(keys_root: Path, seconds: float) -> dict[str, float]:
    rates = {}
    for alg in ("RS256", "ES256"):
        store = KeyStore(keys_root / alg, alg=alg)
        store.ensure()
        issuer = TokenIssuer("https://wait.example.com", store)
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            issuer.id_token(
                sub="s",
                client_id=CLIENT,
                room=ROOM,
                expires_at=2_000_000_000,
                auth_time=1,
                nonce="n",
                access_token="a" * 500,
                session="t" * 22,
                alg=alg,
            )
            done += 1
        rates[alg] = done / (time.perf_counter() - start)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--alg", choices=("RS256", "ES256"), default="RS256")
    parser.add_argument("--append", type=Path, help="append the table to this Markdown file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        redis = RedisServer(work / "redis")
        redis.start()
        server = None
        try:
            keys_dir = work / "keys"
            KeyStore(keys_dir, alg=args.alg, algs=["RS256"]).ensure()  # RS256: always in use
            port = free_port()
            config = work / "config.json"
            config.write_text(json.dumps(_config(redis.url, keys_dir, port, args.alg)))
            server = subprocess.Popen(  # noqa: S603 (our own module, fixed argv)
                [
                    sys.executable,
                    "-m",
                    "bench.server",
                    "app",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    str(args.workers),
                    "--threads",
                    str(args.threads),
                    "--config",
                    str(config),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if requests.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the app did not start")
                time.sleep(0.1)
            before = _cpu_seconds(server.pid, redis)
            logins = logins_per_second(port, args.clients, args.seconds)
            after = _cpu_seconds(server.pid, redis)
            load = os.getloadavg()[0]  # the machine may be shared: say how busy it was
            app_us, redis_us = (
                (a - b) / (logins * args.seconds) * 1e6 for a, b in zip(after, before, strict=True)
            )
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
            redis.stop()
        signing = signing_rates(work / "signing", min(args.seconds, 3.0))

    met = "yes" if logins >= TARGET_LOGINS else "**no**"
    table = "\n".join(
        [
            "| measure | per second | target | met |",
            "|---|---:|---|---|",
            f"| complete logins, served user, {args.alg} (authorize → token → userinfo) "
            f"| {logins:,.0f} "
            f"| ≥ {TARGET_LOGINS} | {met} |",
            f"| server CPU per login: gunicorn + app (µs) | {app_us:,.0f} | – | – |",
            f"| server CPU per login: Redis (µs) | {redis_us:,.0f} | – | – |",
            f"| ID tokens signed, RS256 (one core) | {signing['RS256']:,.0f} | – | – |",
            f"| ID tokens signed, ES256 (one core) | {signing['ES256']:,.0f} | – | – |",
        ]
    )
    note = (
        f"\n\n{args.clients} client processes, gunicorn {args.workers} workers × "
        f"{args.threads} threads, {args.seconds:.0f} s, all on this machine's cores "
        f"(1-minute load average at the end: {load:.1f}).\n"
    )
    print(table + note)
    if args.append:
        with args.append.open("a") as doc:
            doc.write("\n## OIDC logins and token signing (`python -m bench.login_bench`)\n\n")
            doc.write(table + note)


if __name__ == "__main__":
    main()
