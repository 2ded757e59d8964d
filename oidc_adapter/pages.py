"""Browser pages: the waiting page and the error page, and each room's branding files.

Templates come from the `waiting_page` folder (or a room's own
`template_dir` in front of it) with Jinja autoescaping on, so operator texts
and request values can never become markup. Every page is sent with a
Content-Security-Policy that allows no inline script or style at all: the
page's state travels in a data attribute, and its script and stylesheet are
files we serve ourselves.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    request,
    send_file,
    url_for,
)
from flask import send_from_directory as send_from_folder
from jinja2 import ChoiceLoader, Environment, FileSystemLoader

from .config import DEFAULT_COLORS, RoomSettings
from .i18n import Translator, catalog
from .room.present import ticket_json
from .room.views import TicketView
from .web.context import services

TEMPLATE_FOLDER = str(resources.files("waiting_page") / "templates")
STATIC_FOLDER = str(resources.files("waiting_page") / "static")

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: Operator files are served from our origin: a script inside an SVG logo
#: opened directly must not run with our origin's rights.
ASSET_CSP = "default-src 'none'; img-src 'self'; style-src 'self' 'unsafe-inline'; sandbox"
#: Without JavaScript the page reloads itself this often at least; the reload
#: goes through /authorize, which also counts as the ticket's heartbeat.
MAX_REFRESH_SECONDS = 30
MIN_ROOM_POLL_SECONDS = 2

bp = Blueprint("waiting_page", __name__)


def _secure_headers(response: Response, lang: str) -> Response:
    """Per-user pages: never stored by any cache, never framed, no referrer leaks."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Content-Language"] = lang
    response.vary.update(("Accept", "Accept-Language"))
    return response


def translator() -> Translator:
    """The request's language: OIDC ui_locales first, then Accept-Language."""
    return catalog(services().config.translations_dir).negotiate(
        request.values.get("ui_locales"), request.accept_languages
    )


@lru_cache(maxsize=32)
def _file_version(path: str, mtime: float) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def _versioned(path: Path, url: str) -> str:
    """A URL that changes with the file, so a long cache lifetime never serves stale code."""
    return f"{url}?v={_file_version(str(path), path.stat().st_mtime)}"


def static_url(filename: str) -> str:
    return _versioned(Path(STATIC_FOLDER) / filename, url_for("waiting_static", filename=filename))


def _theme_css(room: RoomSettings) -> str | None:
    """Custom properties for a branded room; all three are set so dark mode cannot mix in."""
    if not any(getattr(room, key) for key in DEFAULT_COLORS):
        return None
    colors = {key: getattr(room, key) or default for key, default in DEFAULT_COLORS.items()}
    return (
        ":root{color-scheme:light;"
        f"--brand:{colors['brand_color']};--bg:{colors['background_color']};"
        f"--text:{colors['text_color']}}}\n"
    )


def _branding(room: RoomSettings | None, t: Translator) -> dict[str, Any]:
    out: dict[str, Any] = {"theme_url": None, "logo_url": None, "logo_alt": ""}
    if room is None:
        return out
    theme = _theme_css(room)
    if theme is not None:
        version = hashlib.sha256(theme.encode()).hexdigest()[:12]
        out["theme_url"] = url_for("waiting_page.theme", room=room.name) + f"?v={version}"
    if room.logo:
        out["logo_url"] = _versioned(Path(room.logo), url_for("waiting_page.logo", room=room.name))
        out["logo_alt"] = room.logo_alt or t.room_text(room.name, "title", room.title)
    return out


def _environment(room: RoomSettings | None) -> Environment:
    """The room's template folder in front of ours, so a custom page can reuse our parts."""
    app = current_app
    if room is None or not room.template_dir:
        return app.jinja_env
    envs: dict[str, Environment] = app.extensions.setdefault("waiting_page_envs", {})
    env = envs.get(room.template_dir)
    if env is None:
        loader = ChoiceLoader([FileSystemLoader(room.template_dir), app.jinja_loader])
        env = envs[room.template_dir] = app.jinja_env.overlay(loader=loader)
    return env


def _render(name: str, room: RoomSettings | None, t: Translator, **context: Any) -> str:
    context.update(
        t=t,
        room=room,
        css_url=static_url("waiting.css"),
        js_url=static_url("waiting.js"),
        room_asset=lambda filename: url_for(
            "waiting_page.room_file", room=room.name if room else "", filename=filename
        ),
        **_branding(room, t),
    )
    current_app.update_template_context(context)
    return _environment(room).get_template(name).render(context)


def _view(mode: str) -> str:
    return mode if mode in ("paused", "closed") else "waiting"


def waiting_page(
    view: TicketView, room: RoomSettings, continue_url: str, status_url: str
) -> Response:
    """The page a waiting browser sees; it polls and continues the login by itself."""
    t = translator()
    info: dict[str, Any] = ticket_json(view)
    cfg = services().config
    ahead = info.get("ahead") or 0
    client = {
        "lang": t.lang,
        "room": room.name,
        "ticket": info["ticket"],
        "number": info["number"],
        "roomUrl": url_for("rooms_api.room_state", room=room.name),
        "roomEvery": max(MIN_ROOM_POLL_SECONDS, cfg.room_state_max_age),
        "beatEvery": info["heartbeat_seconds"],
        "mode": info["mode"],
        "ahead": ahead,
        "servedTotal": info["served_total"],
        "estimate": info.get("estimated_wait"),
        "t": t.client_texts(),
    }
    html = _render(
        "waiting.html",
        room,
        t,
        view=_view(info["mode"]),
        ticket=info,
        ahead=ahead,
        title=t.room_text(room.name, "title", room.title) or t("page_title"),
        message=t.room_text(room.name, "message", room.message),
        continue_url=continue_url,
        status_url=status_url,
        refresh_seconds=min(MAX_REFRESH_SECONDS, info["heartbeat_seconds"]),
        client=client,
    )
    return _secure_headers(Response(html, mimetype="text/html"), t.lang)


def waiting_json(
    view: TicketView, room: RoomSettings, continue_url: str, status_url: str
) -> Response:
    """JSON mode of the hold: the waiting state, what to poll and when, and where to go on.

    `poll_url` is the ticket's status (also its heartbeat: poll it every
    `poll_after_seconds` or lose the place); `room_url` is the cacheable room
    state, cheap to poll more often; once `now_serving` reaches `number` (or
    the ticket says `served`), request `continue_url` again.
    """
    info: dict[str, Any] = ticket_json(view)
    cfg = services().config
    info.update(
        poll_url=cfg.issuer + status_url,
        poll_after_seconds=info["heartbeat_seconds"],
        room_url=cfg.issuer + url_for("rooms_api.room_state", room=room.name),
        room_poll_seconds=max(MIN_ROOM_POLL_SECONDS, cfg.room_state_max_age),
        continue_url=cfg.issuer + continue_url,
    )
    response = jsonify(info)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.vary.add("Accept")
    return response


def error_page(status: int, title: str, message: str) -> Response:
    """The page for requests we must not redirect; known texts are shown translated."""
    t = translator()
    errors = t.messages.get("errors", {})
    html = _render(
        "error.html",
        None,
        t,
        title=errors.get(title, title),
        message=errors.get(message, message),
    )
    return _secure_headers(Response(html, status=status, mimetype="text/html"), t.lang)


def _room(name: str) -> RoomSettings:
    room = services().config.rooms.get(name)
    if room is None:
        abort(404)
    return room


def _asset_headers(response: Response, max_age: int) -> Response:
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    response.headers["Content-Security-Policy"] = ASSET_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/static/rooms/<room>/theme.css")
def theme(room: str) -> Response:
    css = _theme_css(_room(room))
    if css is None:
        abort(404)
    return _asset_headers(Response(css, mimetype="text/css"), 86400)


@bp.get("/static/rooms/<room>/logo")
def logo(room: str) -> Response:
    settings = _room(room)
    if not settings.logo:
        abort(404)
    return _asset_headers(send_file(settings.logo, max_age=86400), 86400)


@bp.get("/static/rooms/<room>/files/<path:filename>")
def room_file(room: str, filename: str) -> Response:
    """Files a custom template uses, from the `static` folder of the room's template_dir."""
    settings = _room(room)
    if not settings.template_dir:
        abort(404)
    folder = Path(settings.template_dir) / "static"
    return _asset_headers(send_from_folder(folder, filename, max_age=3600), 3600)
