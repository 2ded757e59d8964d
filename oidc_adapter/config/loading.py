"""From a TOML file and the environment to a validated Config, or every problem at once.

Each problem carries the dotted path of its field (`rooms.shop.admit_per_minute`,
`clients.alb.redirect_uris[0]`), so `oidc-adapter check-config` can show an
operator everything wrong at once instead of one error per restart.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..room.settings import problem_of
from .models import Config, Source
from .rules import FILE_PROBLEMS

#: Settings the environment overrides, so secrets need not sit in the file.
ENVIRONMENT = {
    "redis_url": "REDIS_URL",
    "admin_token": "OIDC_ADAPTER_ADMIN_TOKEN",
    "metrics_token": "OIDC_ADAPTER_METRICS_TOKEN",
    "secret_key": "OIDC_ADAPTER_SECRET_KEY",
    "trusted_proxies": "OIDC_ADAPTER_TRUSTED_PROXIES",
}


class ConfigError(Exception):
    """Raised with every problem found, each as (field, message)."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{f}: {m}" for f, m in problems))


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    """pydantic's errors as (field path, message); a folder's files each get their own line."""
    problems: list[tuple[str, str]] = []
    for error in exc.errors():
        path, message = problem_of(error)
        if error["type"] == FILE_PROBLEMS:
            problems += [(f"{path}/{name}", text) for name, text in error["ctx"]["problems"]]
        else:
            problems.append((path, message))
    return problems


def parse_config(
    data: dict[str, Any], env: dict[str, str] | None = None, base: Path | None = None
) -> Config:
    """Build a Config from parsed TOML; raises ConfigError listing every problem.

    `base` is the folder relative branding and translation paths start from
    (the config file's folder; the working directory when not given).
    """
    env = dict(os.environ) if env is None else env
    rooms = data.get("rooms")
    source = Source(
        base=base or Path.cwd(),
        env=env,
        rooms=frozenset(rooms) if isinstance(rooms, dict) else frozenset(),
    )
    overrides = {key: env[name] for key, name in ENVIRONMENT.items() if env.get(name)}
    try:
        return Config.model_validate({**data, **overrides}, context=source)
    except ValidationError as exc:
        raise ConfigError(_problems(exc)) from None


def load_config(
    path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None
) -> Config:
    """Read the TOML file named by `path` or OIDC_ADAPTER_CONFIG.

    data_dir and keys_dir become absolute against the file's folder, so the
    server finds its state whatever directory it was started from.
    """
    env = dict(os.environ) if env is None else env
    path = path or env.get("OIDC_ADAPTER_CONFIG")
    if not path:
        raise ConfigError([("config", "no file given (--config or OIDC_ADAPTER_CONFIG)")])
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([("config", f"file not found: {file}")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([("config", f"not valid TOML: {exc}")]) from None
    base = file.resolve().parent
    cfg = parse_config(data, env, base)
    return cfg.model_copy(update={"data_dir": base / cfg.data_dir, "keys_dir": base / cfg.keys_dir})
