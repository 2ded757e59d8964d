"""Browser pages: the waiting page and the error page.

Templates come from the `waiting_page` folder with Jinja autoescaping on, so
operator texts and request values can never become markup.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from flask import Response, render_template

from .config import RoomSettings
from .room.present import ticket_json
from .room.views import TicketView

TEMPLATE_FOLDER = str(resources.files("waiting_page") / "templates")
STATIC_FOLDER = str(resources.files("waiting_page") / "static")


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
    return response


def waiting_page(
    view: TicketView, room: RoomSettings, continue_url: str, status_url: str
) -> Response:
    """The page a waiting browser sees; it polls and continues the login by itself."""
    info: dict[str, Any] = ticket_json(view)
    html = render_template(
        "waiting.html",
        ticket=info,
        room=room,
        continue_url=continue_url,
        status_url=status_url,
        refresh_seconds=min(30, info["heartbeat_seconds"]),
    )
    return _no_store(Response(html, mimetype="text/html"))


def error_page(status: int, title: str, message: str) -> Response:
    html = render_template("error.html", title=title, message=message)
    return _no_store(Response(html, status=status, mimetype="text/html"))
