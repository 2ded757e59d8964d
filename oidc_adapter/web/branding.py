"""The files a waiting page loads: our script and stylesheet, and each room's
branding (theme colours, logo, a custom template's own files).

Every URL carries a version derived from the content, so the long cache
lifetimes below never serve a stale file after a change.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, send_file, send_from_directory, url_for

from ..config import DEFAULT_COLORS, RoomConfig
from ..services import services

STATIC_FOLDER = str(resources.files("waiting_page") / "static")
#: Operator files are served from our origin: a script inside an SVG logo
#: opened directly must not run with our origin's rights.
ASSET_CSP = "default-src 'none'; img-src 'self'; style-src 'self' 'unsafe-inline'; sandbox"
DAY = 86400
HOUR = 3600

bp = Blueprint("branding", __name__)


@lru_cache(maxsize=32)
def _file_version(path: str, mtime: float) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def _versioned(path: Path, url: str) -> str:
    return f"{url}?v={_file_version(str(path), path.stat().st_mtime)}"


def static_url(filename: str) -> str:
    return _versioned(Path(STATIC_FOLDER) / filename, url_for("branding.static", filename=filename))


def theme_css(room: RoomConfig) -> str | None:
    """Custom properties for a branded room; all three are set so dark mode cannot mix in."""
    if not any(getattr(room, key) for key in DEFAULT_COLORS):
        return None
    colors = {key: getattr(room, key) or default for key, default in DEFAULT_COLORS.items()}
    return (
        ":root{color-scheme:light;"
        f"--brand:{colors['brand_color']};--bg:{colors['background_color']};"
        f"--text:{colors['text_color']}}}\n"
    )


def branding_urls(room: RoomConfig | None, title: str) -> dict[str, Any]:
    """Template values for a room's theme and logo (`title` is the logo's fallback alt)."""
    out: dict[str, Any] = {"theme_url": None, "logo_url": None, "logo_alt": ""}
    if room is None:
        return out
    theme = theme_css(room)
    if theme is not None:
        version = hashlib.sha256(theme.encode()).hexdigest()[:12]
        out["theme_url"] = url_for("branding.theme", room=room.name) + f"?v={version}"
    if room.logo:
        out["logo_url"] = _versioned(Path(room.logo), url_for("branding.logo", room=room.name))
        out["logo_alt"] = room.logo_alt or title
    return out


def _room(name: str) -> RoomConfig:
    room = services().config.rooms.get(name)
    if room is None:
        abort(404)
    return room


def _cached(response: Response, max_age: int, csp: str | None = None) -> Response:
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    if csp:
        response.headers["Content-Security-Policy"] = csp
    return response


@bp.get("/static/waiting/<path:filename>")
def static(filename: str) -> Response:
    return _cached(send_from_directory(STATIC_FOLDER, filename, max_age=HOUR), HOUR)


@bp.get("/static/rooms/<room>/theme.css")
def theme(room: str) -> Response:
    css = theme_css(_room(room))
    if css is None:
        abort(404)
    return _cached(Response(css, mimetype="text/css"), DAY, ASSET_CSP)


@bp.get("/static/rooms/<room>/logo")
def logo(room: str) -> Response:
    settings = _room(room)
    if not settings.logo:
        abort(404)
    return _cached(send_file(settings.logo, max_age=DAY), DAY, ASSET_CSP)


@bp.get("/static/rooms/<room>/files/<path:filename>")
def room_file(room: str, filename: str) -> Response:
    """Files a custom template uses, from the `static` folder of the room's template_dir."""
    settings = _room(room)
    if not settings.template_dir:
        abort(404)
    folder = Path(settings.template_dir) / "static"
    return _cached(send_from_directory(folder, filename, max_age=HOUR), HOUR, ASSET_CSP)
