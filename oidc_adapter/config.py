"""The TOML configuration: loading, validation and environment secrets.

Validation collects every problem with the dotted path of its field, so
`oidc-adapter check-config` can show an operator everything wrong at once
instead of one error per restart.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOM_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
CLIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$")
MODES = ("auto", "queue_all", "paused", "closed", "passthrough")
HEX_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")
LOGO_TYPES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".avif")
MAX_LOGO_BYTES = 512 * 1024

#: The waiting page's default colours (waiting.css uses the same). Room
#: colours are checked against each other with these filling the gaps, so an
#: operator cannot ship a page that fails WCAG 2.1 AA contrast.
DEFAULT_COLORS = {"brand_color": "#0b57d0", "background_color": "#ffffff", "text_color": "#1b1f24"}
MIN_CONTRAST = 4.5
#: Room texts and branding: read from the config file only (not live settings).
ROOM_TEXTS = ("title", "message", "logo_alt")
ROOM_PATHS = ("logo", "template_dir")

#: name -> (minimum, maximum, default). Shared by the config file and the
#: admin API so a value accepted in one place is accepted in the other.
ROOM_LIMITS: dict[str, tuple[int, int, int]] = {
    "admit_per_minute": (0, 1_000_000, 600),
    "max_active": (0, 100_000_000, 0),
    "session_seconds": (60, 7 * 86400, 1800),
    "waiting_grace_seconds": (15, 86400, 120),
    "claim_seconds": (15, 86400, 120),
}


class ConfigError(Exception):
    """Raised with every problem found, each as (field, message)."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{f}: {m}" for f, m in problems))


@dataclass(frozen=True)
class RoomSettings:
    name: str
    admit_per_minute: int = 600
    max_active: int = 0
    session_seconds: int = 1800
    waiting_grace_seconds: int = 120
    claim_seconds: int = 120
    mode: str = "auto"
    title: str = ""
    message: str = ""
    logo: str = ""
    logo_alt: str = ""
    brand_color: str = ""
    background_color: str = ""
    text_color: str = ""
    template_dir: str = ""

    def as_settings(self) -> dict[str, Any]:
        """The live-changeable part, as stored in Redis."""
        out: dict[str, Any] = {k: getattr(self, k) for k in ROOM_LIMITS}
        out["mode"] = self.mode
        return out


@dataclass(frozen=True)
class ClientSettings:
    client_id: str
    secret: str
    redirect_uris: tuple[str, ...]
    room: str
    initiate_login_uri: str
    login_timeout: int = 240
    require_pkce: bool = False
    name: str = ""


@dataclass
class Config:
    issuer: str = "http://localhost:8000"
    redis_url: str | None = None
    data_dir: Path = Path("var")
    keys_dir: Path = Path("keys")
    admin_token: str | None = None
    secret_key: str | None = None
    signing_alg: str = "RS256"
    room_state_max_age: int = 2
    translations_dir: Path | None = None
    cors_origins: tuple[str, ...] = ()
    rooms: dict[str, RoomSettings] = field(default_factory=dict)
    clients: dict[str, ClientSettings] = field(default_factory=dict)
    source: Path | None = None

    @property
    def insecure_localhost(self) -> bool:
        """http://localhost issuers are for development; cookies drop Secure."""
        parts = urlsplit(self.issuer)
        return parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1")


def _check_int(
    problems: list[tuple[str, str]], path: str, value: Any, lo: int, hi: int
) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append((path, f"must be an integer between {lo} and {hi}"))
        return None
    if not lo <= value <= hi:
        problems.append((path, f"must be between {lo} and {hi}, got {value}"))
        return None
    return value


def validate_room_settings(
    values: dict[str, Any], prefix: str = "", partial: bool = False
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Check room settings; with partial=True only the given keys are needed.

    Returns the cleaned values and the problems, each problem naming its field.
    """
    problems: list[tuple[str, str]] = []
    clean: dict[str, Any] = {}
    for key, value in values.items():
        path = prefix + key
        if key in ROOM_LIMITS:
            lo, hi, _ = ROOM_LIMITS[key]
            checked = _check_int(problems, path, value, lo, hi)
            if checked is not None:
                clean[key] = checked
        elif key == "mode":
            if value not in MODES:
                problems.append((path, f"must be one of {', '.join(MODES)}"))
            else:
                clean[key] = value
        elif key in ROOM_TEXTS and not partial:
            if not isinstance(value, str) or len(value) > 500:
                problems.append((path, "must be a string of at most 500 characters"))
            else:
                clean[key] = value
        elif key in DEFAULT_COLORS and not partial:
            if not isinstance(value, str) or not HEX_COLOR.fullmatch(value):
                problems.append((path, 'must be a hex colour such as "#0b57d0" or "#fff"'))
            else:
                clean[key] = value.lower()
        elif key in ROOM_PATHS and not partial:
            if not isinstance(value, str) or not value:
                problems.append((path, "must be a path string"))
            else:
                clean[key] = value
        else:
            problems.append((path, "unknown setting"))
    if not partial:
        problems += _check_contrast(clean, prefix)
        for key, (_, _, default) in ROOM_LIMITS.items():
            clean.setdefault(key, default)
        clean.setdefault("mode", "auto")
    return clean, problems


def parse_setting_changes(values: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Live changes from an operator; a None value drops that setting's override."""
    clears: dict[str, Any] = {k: None for k, v in values.items() if v is None}
    problems = [(k, "unknown setting") for k in clears if k not in ROOM_LIMITS and k != "mode"]
    clean, more = validate_room_settings(
        {k: v for k, v in values.items() if v is not None}, partial=True
    )
    return {**clean, **clears}, problems + more


def _luminance(color: str) -> float:
    digits = color[1:] if len(color) == 7 else "".join(c * 2 for c in color[1:])
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(a: str, b: str) -> float:
    """WCAG 2.1 contrast ratio of two hex colours (1 to 21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _check_contrast(clean: dict[str, Any], prefix: str) -> list[tuple[str, str]]:
    """Text and brand colour (links, buttons, progress) must both read on the background."""
    if not any(key in clean for key in DEFAULT_COLORS):
        return []
    colors = {key: clean.get(key, default) for key, default in DEFAULT_COLORS.items()}
    problems = []
    for key in ("text_color", "brand_color"):
        ratio = contrast_ratio(colors[key], colors["background_color"])
        if ratio < MIN_CONTRAST:
            problems.append(
                (
                    prefix + key,
                    f"contrast with background_color {colors['background_color']} is "
                    f"{ratio:.2f}:1; WCAG 2.1 AA needs at least {MIN_CONTRAST}:1",
                )
            )
    return problems


def _check_room_paths(
    problems: list[tuple[str, str]], path: str, clean: dict[str, Any], base: Path
) -> None:
    """Branding files are resolved against the config file's folder and must exist."""
    if "logo" in clean:
        logo = base / clean["logo"]
        clean["logo"] = str(logo)
        if logo.suffix.lower() not in LOGO_TYPES:
            problems.append((path + ".logo", f"must be an image file ({', '.join(LOGO_TYPES)})"))
        elif not logo.is_file():
            problems.append((path + ".logo", f"file not found: {logo}"))
        elif logo.stat().st_size > MAX_LOGO_BYTES:
            problems.append((path + ".logo", f"must be at most {MAX_LOGO_BYTES // 1024} KB"))
    if "template_dir" in clean:
        folder = base / clean["template_dir"]
        clean["template_dir"] = str(folder)
        if not folder.is_dir():
            problems.append((path + ".template_dir", f"folder not found: {folder}"))


def _check_url(problems: list[tuple[str, str]], path: str, value: Any, allow_http: bool) -> bool:
    if not isinstance(value, str):
        problems.append((path, "must be a URL string"))
        return False
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        problems.append((path, "must be an absolute http(s) URL"))
        return False
    if parts.fragment:
        problems.append((path, "must not contain a fragment"))
        return False
    if parts.scheme == "http" and not allow_http:
        problems.append((path, "must use https (http is allowed only for localhost)"))
        return False
    return True


def _is_local(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "127.0.0.1", "::1") or host.endswith(".localhost")


def parse_config(
    data: dict[str, Any], env: dict[str, str] | None = None, base: Path | None = None
) -> Config:
    """Build a Config from parsed TOML; raises ConfigError listing every problem.

    `base` is the folder relative branding and translation paths start from
    (the config file's folder; the working directory when not given).
    """
    env = dict(os.environ) if env is None else env
    base = base or Path.cwd()
    problems: list[tuple[str, str]] = []
    known = {
        "issuer",
        "redis_url",
        "data_dir",
        "keys_dir",
        "admin_token",
        "secret_key",
        "signing_alg",
        "room_state_max_age",
        "translations_dir",
        "cors_origins",
        "rooms",
        "clients",
    }
    for key in data:
        if key not in known:
            problems.append((key, "unknown setting"))

    cfg = Config()
    issuer = data.get("issuer", cfg.issuer)
    if _check_url(problems, "issuer", issuer, allow_http=True):
        parts = urlsplit(issuer)
        if parts.query:
            problems.append(("issuer", "must not contain a query"))
        elif parts.scheme == "http" and not _is_local(issuer):
            problems.append(("issuer", "must use https (http is allowed only for localhost)"))
        cfg.issuer = issuer.rstrip("/")

    cfg.redis_url = env.get("REDIS_URL") or data.get("redis_url")
    if cfg.redis_url is not None and not str(cfg.redis_url).startswith(
        ("redis://", "rediss://", "unix://")
    ):
        problems.append(("redis_url", "must start with redis://, rediss:// or unix://"))
    for key in ("data_dir", "keys_dir"):
        if key in data:
            if not isinstance(data[key], str) or not data[key]:
                problems.append((key, "must be a path string"))
            else:
                setattr(cfg, key, Path(data[key]))
    cfg.admin_token = env.get("OIDC_ADAPTER_ADMIN_TOKEN") or data.get("admin_token")
    if cfg.admin_token is not None and (
        not isinstance(cfg.admin_token, str) or len(cfg.admin_token) < 16
    ):
        problems.append(("admin_token", "must be a string of at least 16 characters"))
    cfg.secret_key = env.get("OIDC_ADAPTER_SECRET_KEY") or data.get("secret_key")
    if cfg.secret_key is not None and (
        not isinstance(cfg.secret_key, str) or len(cfg.secret_key) < 32
    ):
        problems.append(("secret_key", "must be a string of at least 32 characters"))
    alg = data.get("signing_alg", "RS256")
    if alg not in ("RS256", "ES256"):
        problems.append(("signing_alg", "must be RS256 or ES256"))
    else:
        cfg.signing_alg = alg
    max_age = _check_int(problems, "room_state_max_age", data.get("room_state_max_age", 2), 0, 60)
    if max_age is not None:
        cfg.room_state_max_age = max_age
    if "translations_dir" in data:
        _parse_translations_dir(problems, data["translations_dir"], base, cfg)
    cfg.cors_origins = _parse_origins(problems, data.get("cors_origins", []))

    rooms = data.get("rooms", {})
    if not isinstance(rooms, dict) or not rooms:
        problems.append(("rooms", "at least one [rooms.NAME] table is required"))
        rooms = {}
    for name, values in rooms.items():
        path = f"rooms.{name}"
        if not ROOM_NAME.fullmatch(name):
            problems.append((path, "room names use a-z, 0-9, '-' and '_' (max 63)"))
            continue
        if not isinstance(values, dict):
            problems.append((path, "must be a table"))
            continue
        clean, room_problems = validate_room_settings(values, prefix=path + ".")
        _check_room_paths(room_problems, path, clean, base)
        problems.extend(room_problems)
        if not room_problems:
            cfg.rooms[name] = RoomSettings(name=name, **clean)

    clients = data.get("clients", {})
    if not isinstance(clients, dict):
        problems.append(("clients", "must be a table of [clients.ID] tables"))
        clients = {}
    for client_id, values in clients.items():
        client = _parse_client(problems, client_id, values, rooms, env)
        if client is not None:
            cfg.clients[client_id] = client

    if problems:
        raise ConfigError(problems)
    return cfg


def _parse_origins(problems: list[tuple[str, str]], value: Any) -> tuple[str, ...]:
    """Web origins allowed to call the room JSON API from a browser (CORS)."""
    if not isinstance(value, list):
        problems.append(("cors_origins", "must be a list of origins"))
        return ()
    origins = []
    for i, origin in enumerate(value):
        path = f"cors_origins[{i}]"
        parts = urlsplit(origin) if isinstance(origin, str) else None
        if (
            parts is None
            or parts.scheme not in ("https", "http")
            or not parts.netloc
            or origin != f"{parts.scheme}://{parts.netloc}"
        ):
            problems.append((path, "must be an origin such as https://shop.example.com"))
        elif parts.scheme == "http" and not _is_local(origin):
            problems.append((path, "must use https (http is allowed only for localhost)"))
        else:
            origins.append(origin)
    return tuple(origins)


def _parse_translations_dir(
    problems: list[tuple[str, str]], value: Any, base: Path, cfg: Config
) -> None:
    from .i18n import check_translations

    if not isinstance(value, str) or not value:
        problems.append(("translations_dir", "must be a path string"))
        return
    folder = base / value
    if not folder.is_dir():
        problems.append(("translations_dir", f"folder not found: {folder}"))
        return
    found = check_translations(folder)
    problems.extend((f"translations_dir/{name}", message) for name, message in found)
    cfg.translations_dir = folder


def _parse_client(
    problems: list[tuple[str, str]],
    client_id: str,
    values: Any,
    rooms: dict[str, Any],
    env: dict[str, str],
) -> ClientSettings | None:
    path = f"clients.{client_id}"
    before = len(problems)
    if not CLIENT_ID.fullmatch(client_id):
        problems.append((path, "client ids use letters, digits and . _ ~ - (max 128)"))
        return None
    if not isinstance(values, dict):
        problems.append((path, "must be a table"))
        return None
    allowed = {
        "secret",
        "secret_env",
        "redirect_uris",
        "room",
        "initiate_login_uri",
        "login_timeout",
        "require_pkce",
        "name",
    }
    for key in values:
        if key not in allowed:
            problems.append((f"{path}.{key}", "unknown setting"))
    secret = values.get("secret")
    if "secret_env" in values:
        secret = env.get(str(values["secret_env"]))
        if not secret:
            problems.append(
                (f"{path}.secret_env", f"environment variable {values['secret_env']} is not set")
            )
        elif len(secret) < 16:
            problems.append(
                (f"{path}.secret_env", f"{values['secret_env']} must hold at least 16 characters")
            )
    elif not isinstance(secret, str) or len(secret) < 16:
        problems.append((f"{path}.secret", "a secret of at least 16 characters is required"))
    uris = values.get("redirect_uris")
    if not isinstance(uris, list) or not uris:
        problems.append((f"{path}.redirect_uris", "a non-empty list of URLs is required"))
        uris = []
    for i, uri in enumerate(uris):
        ok = _check_url(problems, f"{path}.redirect_uris[{i}]", uri, allow_http=True)
        if ok and uri.startswith("http:") and not _is_local(uri):
            problems.append(
                (f"{path}.redirect_uris[{i}]", "must use https (http only for localhost)")
            )
    room = values.get("room")
    if not isinstance(room, str) or room not in rooms:
        problems.append((f"{path}.room", f"must name a configured room, got {room!r}"))
    initiate = values.get("initiate_login_uri")
    if initiate is None and uris and isinstance(uris[0], str):
        parts = urlsplit(uris[0])
        initiate = f"{parts.scheme}://{parts.netloc}/"
    elif initiate is not None:
        _check_url(problems, f"{path}.initiate_login_uri", initiate, allow_http=True)
    timeout = _check_int(
        problems, f"{path}.login_timeout", values.get("login_timeout", 240), 5, 3600
    )
    pkce = values.get("require_pkce", False)
    if not isinstance(pkce, bool):
        problems.append((f"{path}.require_pkce", "must be true or false"))
    if len(problems) > before:
        return None
    return ClientSettings(
        client_id=client_id,
        secret=secret,
        redirect_uris=tuple(uris),
        room=room,
        initiate_login_uri=initiate,
        login_timeout=timeout or 240,
        require_pkce=pkce,
        name=str(values.get("name", client_id)),
    )


def load_config(
    path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None
) -> Config:
    """Read the TOML file named by `path` or OIDC_ADAPTER_CONFIG."""
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
    cfg.source = file
    if not cfg.data_dir.is_absolute():
        cfg.data_dir = base / cfg.data_dir
    if not cfg.keys_dir.is_absolute():
        cfg.keys_dir = base / cfg.keys_dir
    return cfg
