"""Browser pages: the waiting page (and its JSON mode) and the error page.

Templates come from the `waiting_page` folder (or a room's own
`template_dir` in front of it) with Jinja autoescaping on, so operator texts
and request values can never become markup. Every page is sent with a
Content-Security-Policy that allows no inline script or style at all: the
page's state travels in a data attribute, and its script and stylesheet are
files we serve ourselves.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import redis
from flask import Response, current_app, jsonify, request, url_for
from jinja2 import ChoiceLoader, Environment, FileSystemLoader

from ..config import RoomConfig
from ..i18n import Translator, catalog
from ..return_to import origin_of
from ..room.present import ticket_json
from ..room.results import TicketView
from ..services import services
from . import cut_pages
from .branding import branding_urls, static_url
from .errors import RETRY_AFTER, store_unavailable
from .responses import NO_STORE_HEADERS, no_store

TEMPLATE_FOLDER = str(resources.files("waiting_page") / "templates")

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: Without JavaScript the page reloads itself this often at least; the reload
#: goes through /authorize, which also counts as the ticket's heartbeat.
MAX_REFRESH_SECONDS = 30
MIN_ROOM_POLL_SECONDS = 2
TEMPLATE_CACHE_SIZE = 50


def _page_response(html: str, lang: str, status: int = 200, csp: str = CSP) -> Response:
    """Per-user pages: never stored by any cache, never framed, no referrer leaks.

    The headers are added in one go to the new response (none of them is
    there yet): setting them one by one rescans the header list each time.
    """
    response = Response(html, status=status, mimetype="text/html")
    response.headers.extend(
        [
            *NO_STORE_HEADERS,
            ("Content-Security-Policy", csp),
            ("X-Frame-Options", "DENY"),
            ("Referrer-Policy", "no-referrer"),
            ("Content-Language", lang),
            ("Vary", "Accept, Accept-Language"),
        ]
    )
    return response


def translator() -> Translator:
    """The request's language: OIDC ui_locales first, then Accept-Language."""
    return catalog(services().config.translations_dir).negotiate(
        request.values.get("ui_locales"), request.accept_languages
    )


def _environment(room: RoomConfig | None) -> Environment:
    """Our pages' templates; a room's template folder goes in front of ours, so a
    custom page can reuse our parts."""
    app = current_app
    folder = room.template_dir if room else None
    envs: dict[str | None, Environment] = app.extensions.setdefault("waiting_page_envs", {})
    env = envs.get(folder)
    if env is None:
        env = envs[folder] = _page_environment(folder)
    return env


def _page_environment(template_dir: str | None) -> Environment:
    """The app's environment with our loader, and a `tojson` that knows cut_pages' slots.

    A template cache of its own: templates are bound to the environment that
    loaded them, and `tojson` reads its policies from there.
    """
    app = current_app
    loader = app.jinja_env.loader
    if template_dir:
        loader = ChoiceLoader([FileSystemLoader(template_dir), app.jinja_loader])
    env = app.jinja_env.overlay(loader=loader, cache_size=TEMPLATE_CACHE_SIZE)
    provider = app.json
    dumps = functools.partial(provider.dumps, default=cut_pages.json_default(provider.default))
    env.policies = {**env.policies, "json.dumps_function": dumps}
    return env


def _context(room: RoomConfig | None, t: Translator, base: str = "", **context: Any) -> dict:
    """What every page's template gets. `base` prefixes our static files: the
    issuer, for a page shown on another site."""
    title = t.room_text(room.name, "title", room.title) if room else ""
    context.update(
        t=t,
        room=room,
        css_url=base + static_url("waiting.css"),
        js_url=base + static_url("waiting.js"),
        room_asset=lambda filename: url_for(
            "branding.room_file", room=room.name if room else "", filename=filename
        ),
        **branding_urls(room, title),
    )
    return context


def _render(
    name: str, room: RoomConfig | None, t: Translator, base: str = "", **context: Any
) -> str:
    context = _context(room, t, base, **context)
    current_app.update_template_context(context)
    return _environment(room).get_template(name).render(context)


def _view(mode: str) -> str:
    return mode if mode in ("paused", "closed") else "waiting"


def _room_poll_seconds() -> int:
    return max(MIN_ROOM_POLL_SECONDS, services().config.room_state_max_age)


def waiting_page(
    view: TicketView, room: RoomConfig, continue_url: str, status_url: str
) -> Response:
    """The page a waiting browser sees; it polls and continues the login by itself.

    Cut once per look (room, language, view, sale phase: see cut_pages); a
    request only fills in its ticket, place, texts and URLs.
    """
    t = translator()
    info: dict[str, Any] = ticket_json(view)
    ahead = info.get("ahead") or 0
    mode_view = _view(info["mode"])
    refresh_seconds = min(MAX_REFRESH_SECONDS, info["heartbeat_seconds"])
    schedule = info.get("schedule")
    sale = (
        {"phase": schedule["phase"], "opens_at_utc": schedule["opens_at_utc"]} if schedule else None
    )
    client = {
        "lang": t.lang,
        "room": room.name,
        "ticket": info["ticket"],
        "number": info["number"],
        "roomUrl": url_for("rooms_api.room_state", room=room.name),
        "roomEvery": _room_poll_seconds(),
        "beatEvery": info["heartbeat_seconds"],
        "mode": info["mode"],
        "ahead": ahead,
        "servedTotal": info["served_total"],
        "estimate": info.get("estimated_wait"),
        "t": t.client_texts(),
    }
    values = {
        "ticket": info,
        "ahead": ahead,
        "continue_url": continue_url,
        "status_url": status_url,
        "client": client,
        "position_text": t.number(ahead + 1),
        "ahead_text": t.plural("ahead", ahead) if ahead else t("ahead_none"),
        "wait_text": t.wait(info.get("estimated_wait")),
        "served_text": t.plural("served_total", info["served_total"]),
    }
    look = (
        room.name,
        t.lang,
        mode_view,
        refresh_seconds,
        sale and tuple(sale.values()),
        tuple(info),
        request.script_root,
    )
    html = cut_pages.render(
        _environment(room),
        "waiting.html",
        look,
        lambda: _context(
            room,
            t,
            view=mode_view,
            sale=sale,
            title=t.room_text(room.name, "title", room.title) or t("page_title"),
            message=t.room_text(room.name, "message", room.message),
            refresh_seconds=refresh_seconds,
        ),
        values,
        expand=("ticket",),
    )
    return _page_response(html, t.lang)


def room_page(name: str, room: RoomConfig, status: int = 200, **context: Any) -> Response:
    """Another page in the room's look (e.g. the proof-of-work step), under the same CSP."""
    t = translator()
    title = t.room_text(room.name, "title", room.title) or t("page_title")
    message = t.room_text(room.name, "message", room.message)
    html = _render(name, room, t, title=title, message=message, **context)
    return _page_response(html, t.lang, status)


def waiting_response(view: TicketView, room: RoomConfig, continue_url: str) -> Response:
    """The hold: the waiting page, or its JSON mode for `Accept: application/json`."""
    status_url = url_for("rooms_api.ticket_status", room=room.name, ticket=view.ticket)
    if request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json":
        return waiting_json(view, room, continue_url, status_url)
    return waiting_page(view, room, continue_url, status_url)


def waiting_json(
    view: TicketView, room: RoomConfig, continue_url: str, status_url: str
) -> Response:
    """JSON mode of the hold: the waiting state, what to poll and when, and where to go on.

    `poll_url` is the ticket's status (also its heartbeat: poll it every
    `poll_after_seconds` or lose the place); `room_url` is the cacheable room
    state, cheap to poll more often; once `now_serving` reaches `number` (or
    the ticket says `served`), request `continue_url` again.
    """
    info: dict[str, Any] = ticket_json(view)
    issuer = services().config.issuer
    info.update(
        poll_url=issuer + status_url,
        poll_after_seconds=info["heartbeat_seconds"],
        room_url=issuer + url_for("rooms_api.room_state", room=room.name),
        room_poll_seconds=_room_poll_seconds(),
        continue_url=issuer + continue_url,
    )
    response = no_store(jsonify(info))
    response.vary.add("Accept")
    return response


def error_page(status: int, title: str, message: str, *, elsewhere: bool = False) -> Response:
    """The page for requests we must not redirect; known texts are shown translated.

    `elsewhere`: the page is served on a site's own domain (through its proxy,
    /auth/handoff), so its stylesheet comes from our origin, the one the CSP names.
    """
    t = translator()
    errors = t.messages.get("errors", {})
    issuer = services().config.issuer if elsewhere else ""
    html = _render(
        "error.html",
        None,
        t,
        base=issuer,
        title=errors.get(title, title),
        message=errors.get(message, message),
    )
    csp = CSP.replace("style-src 'self'", f"style-src {origin_of(issuer)}") if issuer else CSP
    return _page_response(html, t.lang, status, csp)


def store_outage_page(exc: redis.RedisError) -> Response:
    """Error handler of the browser pages: during a Redis outage a browser gets a
    page to reload, not JSON; any other Redis error is a bug of ours (a 500)."""
    if not store_unavailable(exc):
        raise exc
    current_app.logger.warning("redis unavailable: %s", exc)
    page = error_page(
        503,
        "The waiting room is briefly unavailable",
        "Nobody loses their place: please reload this page in a few seconds.",
    )
    page.headers.update(RETRY_AFTER)
    return page
