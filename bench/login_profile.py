"""Where a login's CPU goes: app CPU per endpoint, in-process, optionally profiled.

    python -m bench.login_profile [--alg RS256] [--logins 400] [--repeat 3]
        [--profile login.prof]

The same login as `bench.login_bench` (authorize → token → userinfo for a
served user, the same config), but each request is built outside the
measurement and handed straight to the WSGI app, so the figures are the
app's own thread CPU time (`time.thread_time`): no HTTP parsing, no client,
no Redis CPU, and little disturbance from other processes sharing the cores.
The best of `--repeat` rounds is reported. With `--profile`, one more round
runs under cProfile and its stats are written there (read them with
`python -m pstats`).
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from werkzeug.test import EnvironBuilder

from oidc_adapter.app import create_app
from oidc_adapter.config import parse_config
from oidc_adapter.keys import KeyStore
from tests.helpers import RedisServer

from .login_bench import CLIENT, REDIRECT, SECRET, _config, authorization_query

ENDPOINTS = ("authorize", "token", "userinfo")


class _Driver:
    """One browser's logins against the WSGI app, timing only the app's work."""

    def __init__(self, app: Callable[..., Any]):
        self.app = app
        self.cookie = ""
        self.basic = "Basic " + base64.b64encode(f"{CLIENT}:{SECRET}".encode()).decode()
        self.cpu = dict.fromkeys(ENDPOINTS, 0.0)
        self.profiler: cProfile.Profile | None = None

    def call(self, name: str, **request: Any) -> tuple[str, dict[str, str], bytes]:
        headers = request.pop("headers", {})
        if self.cookie:
            headers["Cookie"] = self.cookie
        environ = EnvironBuilder(base_url="http://localhost:8000", headers=headers, **request)
        environ = environ.get_environ()
        answer: dict[str, Any] = {}

        def start_response(status: str, response_headers: list, exc_info: Any = None) -> None:
            answer["status"], answer["headers"] = status, response_headers

        started = time.thread_time()
        if self.profiler:
            self.profiler.enable()
        body = b"".join(self.app(environ, start_response))
        if self.profiler:
            self.profiler.disable()
        self.cpu[name] += time.thread_time() - started
        for key, value in answer["headers"]:
            if key == "Set-Cookie":
                self.cookie = value.split(";", 1)[0]
        return answer["status"], dict(answer["headers"]), body

    def login(self) -> None:
        _, headers, _ = self.call(
            "authorize", path="/authorize", query_string=authorization_query()
        )
        code = parse_qs(urlsplit(headers["Location"]).query)["code"][0]
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
        _, _, body = self.call(
            "token", path="/token", method="POST", data=form, headers={"Authorization": self.basic}
        )
        token = json.loads(body)["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        status, _, body = self.call("userinfo", path="/userinfo", headers=bearer)
        if not status.startswith("200"):
            raise RuntimeError(f"userinfo answered {status}: {body!r}")

    def round(self, logins: int) -> dict[str, float]:
        """CPU milliseconds per login, by endpoint."""
        self.cpu = dict.fromkeys(ENDPOINTS, 0.0)
        for _ in range(logins):
            self.login()
        return {name: spent / logins * 1000 for name, spent in self.cpu.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alg", choices=("RS256", "ES256"), default="RS256")
    parser.add_argument("--logins", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", type=Path, help="write cProfile stats of one more round")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisServer(Path(tmp) / "redis")
        redis.start()
        try:
            keys = Path(tmp) / "keys"
            KeyStore(keys, alg=args.alg, algs=["RS256"]).ensure()
            config = parse_config(_config(redis.url, keys, 8000, args.alg), env={})
            driver = _Driver(create_app(config))
            driver.round(30)  # warm: scripts loaded, keys read, caches filled
            rounds = [driver.round(args.logins) for _ in range(args.repeat)]
            if args.profile:
                driver.profiler = cProfile.Profile()
                driver.round(args.logins)
                driver.profiler.dump_stats(args.profile)
        finally:
            redis.stop()

    best = {name: min(r[name] for r in rounds) for name in ENDPOINTS}
    print(f"| app CPU per login, {args.alg} (ms, best of {args.repeat} × {args.logins}) | value |")
    print("|---|---:|")
    for name in ENDPOINTS:
        print(f"| `{name}` | {best[name]:.2f} |")
    print(f"| whole login | {sum(best.values()):.2f} |")


if __name__ == "__main__":
    main()
