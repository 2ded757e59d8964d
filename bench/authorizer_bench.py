"""Benchmark of the protected side: token verifications per second, and the cost
of gating a page with nginx `auth_request` against the adapter.

    python -m bench.authorizer_bench [--seconds 3] [--wrk-seconds 5] [--append docs/benchmarks.md]

Run from the repository root. Everything runs on 127.0.0.1, is bounded in
time and stopped on exit. The nginx part needs nginx, wrk and redis-server
and is skipped (with a note) when one is missing.

Verification runs in this process, single-threaded, with a warm JWKS cache
(fetched once from a loopback HTTP server), so it measures the signature and
claim checks alone; "with revocation" adds the Redis session read.
The nginx figure is a ratio to nginx serving the same page without the gate,
because absolute numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from oidc_adapter.authorizer import Authorizer, JwksKeys, SessionCheck
from oidc_adapter.keys import KeyStore
from oidc_adapter.oidc.tokens import TokenIssuer
from oidc_adapter.room.engine import RoomEngine
from oidc_adapter.room.settings import RoomSettings
from tests.e2e.nginx import SHOP_ROOM, Adapter, CachedNginx, Nginx, admitted_token, nginx_binary
from tests.helpers import RedisServer, redis_server_binary

ISSUER = "https://wait.example.com"
ROOM = SHOP_ROOM  # the room the shipped cached gate (docs/nginx/) names
WRK_CONNECTIONS = 16
WRK_THREADS = 2


@contextlib.contextmanager
def jwks_server(jwks: dict) -> Iterator[str]:
    body = json.dumps(jwks).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


def rate(call: Callable[[str], object], token: str, seconds: float) -> float:
    """Calls per second of `call(token)`, after a short warm-up."""
    for _ in range(50):
        call(token)
    done, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(100):
            call(token)
        done += 100
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - start)


def sign(keys_dir: Path, alg: str, session: str) -> tuple[str, dict]:
    store = KeyStore(keys_dir, alg=alg)
    store.ensure()
    token = TokenIssuer(ISSUER, store).access_token(
        sub="bench-subject",
        audience=f"{ISSUER}/api/rooms/{ROOM}",
        client_id=f"room:{ROOM}",
        room=ROOM,
        session=session,
        scope="",
        expires_at=int(time.time()) + 3600,
        auth_time=int(time.time()),
    )
    return token, store.public_jwks()


def verification_rows(workdir: Path, seconds: float, redis_url: str | None) -> list[str]:
    rows = []
    engine = session = None
    if redis_url:
        from oidc_adapter.redis_connection import connect

        engine = RoomEngine(connect(redis_url), {ROOM: RoomSettings()})
        engine.sync_settings()
        session = engine.take(ROOM).ticket
        assert engine.claim(ROOM, session).state == "admitted"
    for alg in ("RS256", "ES256"):
        token, jwks = sign(workdir / alg, alg, session or "A" * 22)
        with jwks_server(jwks) as url:
            plain = Authorizer(ISSUER, rooms=[ROOM], keys=JwksKeys(url))
            rows.append(f"| {alg} | {rate(plain.verify, token, seconds):,.0f} |")
            if engine is not None:
                checked = Authorizer(
                    ISSUER,
                    rooms=[ROOM],
                    keys=JwksKeys(url),
                    sessions=SessionCheck.from_redis(engine.client),
                )
                speed = rate(checked.verify, token, seconds)
                rows.append(f"| {alg} + revocation check (Redis) | {speed:,.0f} |")
    return rows


def wrk(url: str, seconds: float, headers: dict[str, str]) -> tuple[float, int]:
    """(requests/s, responses that were not 2xx/3xx)."""
    args = ["wrk", "-t", str(WRK_THREADS), "-c", str(WRK_CONNECTIONS), "-d", f"{seconds:g}s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run(
        [*args, url], capture_output=True, text=True, timeout=seconds + 30, check=True
    ).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not found:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return float(found.group(1)), int(failed.group(1)) if failed else 0


def nginx_rows(workdir: Path, seconds: float, redis_url: str) -> list[str]:
    rooms = {ROOM: {"admit_per_minute": 60000, "max_active": 0, "session_seconds": 3600}}
    with (
        Adapter(workdir / "adapter", redis_url, rooms, {}, workers=2).start() as adapter,
        Nginx(workdir / "nginx", adapter.port, ROOM).start() as nginx,
    ):
        bearer = {"Authorization": f"Bearer {admitted_token(adapter.url, ROOM)[1]}"}
        assert requests.get(f"{nginx.url}/", headers=bearer, timeout=10).status_code == 200
        open_rps, open_failed = wrk(f"{nginx.url}/open/", seconds, {})
        gated_rps, gated_failed = wrk(f"{nginx.url}/", seconds, bearer)
        with CachedNginx(workdir / "nginx-cached", adapter.port).start() as cached:
            assert requests.get(f"{cached.url}/", headers=bearer, timeout=10).status_code == 200
            cached_rps, cached_failed = wrk(f"{cached.url}/", seconds, bearer)
        if open_failed or gated_failed or cached_failed:
            logs = (nginx.log_tail(), cached.log_tail(), adapter.log_tail())
            print(*logs, sep="\n", file=sys.stderr)
    return [
        f"| nginx, page without the gate | {open_rps:,.0f} | 1.00 | {open_failed} |",
        f"| nginx `auth_request` → `/auth/verify` (signature + Redis session check) "
        f"| {gated_rps:,.0f} | {gated_rps / open_rps:.3f} | {gated_failed} |",
        f"| the same with the shipped 5 s decision cache (`docs/nginx/`) "
        f"| {cached_rps:,.0f} | {cached_rps / open_rps:.3f} | {cached_failed} |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per verification figure")
    parser.add_argument("--wrk-seconds", type=float, default=5.0, help="per nginx figure")
    parser.add_argument("--append", type=Path, help="append the Markdown section to this file")
    args = parser.parse_args()

    lines = [
        "## Authorizer (protected side)",
        "",
        f"`python -m bench.authorizer_bench` on {platform.machine()} with "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}.",
        "",
        "Tokens verified per second, one thread, warm JWKS cache:",
        "",
        "| token | verified/s |",
        "| --- | ---: |",
    ]
    with tempfile.TemporaryDirectory(prefix="authz-bench-") as tmp:
        workdir = Path(tmp)
        redis = None
        if redis_server_binary():
            redis = RedisServer(workdir / "redis")
            redis.start()
        try:
            lines += verification_rows(workdir, args.seconds, redis.url if redis else None)
            lines.append("")
            missing = [
                name
                for name, ok in (
                    ("nginx", nginx_binary()),
                    ("wrk", shutil.which("wrk")),
                    ("redis-server", redis),
                )
                if not ok
            ]
            if missing:
                lines.append(f"nginx auth_request: skipped ({', '.join(missing)} not found).")
            else:
                lines += [
                    f"nginx (1 process) in front of a static page, wrk -t{WRK_THREADS} "
                    f"-c{WRK_CONNECTIONS} -d{args.wrk_seconds:g}s on loopback; the adapter "
                    "runs as `oidc-adapter serve --workers 2` (4 threads each):",
                    "",
                    "| path | requests/s | ratio | non-2xx |",
                    "| --- | ---: | ---: | ---: |",
                    *nginx_rows(workdir, args.wrk_seconds, redis.url),
                    "",
                    "Each gated request adds a loopback HTTP round trip to the adapter "
                    "(gunicorn + Flask), one signature check and one Redis script, against "
                    "nginx sending a static file; wrk, nginx, gunicorn and Redis share the "
                    "machine's CPUs.",
                ]
        finally:
            if redis is not None:
                redis.stop()
    section = "\n".join(lines) + "\n"
    print(section)
    if args.append:
        with args.append.open("a", encoding="utf-8") as out:
            out.write(("\n" if out.tell() else "") + section)


if __name__ == "__main__":
    main()
