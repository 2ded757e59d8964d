"""Runs the bare Flask app or the real app under gunicorn with identical options.

Both get `oidc_adapter.gunicorn_app.gunicorn_options`, the options `oidc-adapter
serve` uses, so the comparison follows production settings if they change.
Only the access log is off unless asked for: it costs the same per request
in both and would otherwise measure log formatting.

    python -m bench.server {bare,app} --bind 127.0.0.1:PORT --workers 2 --threads 4
        [--config app-config.json] [--access-log]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from flask import Flask

from oidc_adapter.gunicorn_app import GunicornApp, gunicorn_options


def _app_factory(config_file: Path) -> Callable[[], Flask]:
    def factory() -> Flask:
        from oidc_adapter.app import create_app
        from oidc_adapter.config import parse_config

        # env={}: the bench's config file is the whole truth, not the shell's REDIS_URL.
        return create_app(parse_config(json.loads(config_file.read_text()), env={}))

    return factory


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("app", choices=("bare", "app"))
    parser.add_argument("--bind", required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--config", type=Path, help="JSON for parse_config (app only)")
    parser.add_argument("--access-log", action="store_true")
    parser.add_argument("--reuse-port", action="store_true")
    args = parser.parse_args(argv)
    options = gunicorn_options(args.bind, args.workers, args.threads)
    if not args.access_log:
        options["accesslog"] = None
    if args.reuse_port:
        options["reuse_port"] = True
    if args.app == "bare":
        from .bare_app import create_app as factory
    else:
        if args.config is None:
            parser.error("the app needs --config")
        factory = _app_factory(args.config)
    GunicornApp(factory, options).run()


if __name__ == "__main__":
    main()
