"""`GET /wait/<room>?return_to=<url>`: the redirect integration's way in.

A site without an OIDC relying party (plain nginx, Traefik, an app) sends
its visitors here (downstream mode), or a link points here directly and the
room's `default_return_to` applies (upstream mode). The visitor takes (or
keeps) the room's ticket, in the cookie /authorize uses too, waits on the
same page, and when served goes back to `return_to` with a one-time handoff
token (`wr_token`) that the site's edge redeems at /auth/handoff.

Every problem is our error page, never a redirect: an unchecked redirect
from here would be an open redirect carrying a credential.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

import redis
from flask import Blueprint, Response, redirect, request, url_for

from ..config import RoomConfig
from ..i18n import Translator
from ..oidc.authorization_request import INVALID_LINK
from ..return_to import ReturnToRefused, check_return_to, origin_of, raw_return_to, with_token
from ..room.engine import RoomClosed
from ..room.present import utc_text
from ..room.results import TicketView
from ..room.states import ADMITTED
from ..services import services
from . import door, pages, ticket_cookie
from .responses import no_store

bp = Blueprint("wait", __name__)

CLOSED = "This waiting room takes no new visitors right now."


class WaitRefused(Exception):
    """Shown on our error page (title and message are translated when known)."""

    def __init__(self, status: int, message: str, title: str = INVALID_LINK):
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


def _requested_return_to() -> str | None:
    """The visitor's return_to: nginx's unencoded form, or an ordinary parameter."""
    raw = raw_return_to(request.query_string.decode("latin-1"))
    if raw is not None:
        return raw
    values = request.args.getlist("return_to")
    if len(values) > 1:
        raise WaitRefused(400, "'return_to' is repeated.")
    return values[0] if values else None


def _return_to(room: RoomConfig, requested: str | None) -> str:
    if requested is None:
        if room.default_return_to is None:
            raise WaitRefused(400, "The return address is missing.")
        return room.default_return_to
    try:
        return check_return_to(requested, room.return_origins)
    except ReturnToRefused as exc:
        raise WaitRefused(400, str(exc)) from None


def _continue_url(room: RoomConfig, requested: str | None) -> str:
    """This very entry again, return_to encoded: what the waiting page re-requests."""
    url = url_for("wait.wait", room=room.name)
    return url if requested is None else f"{url}?{urlencode({'return_to': requested})}"


def _hand_back(view: TicketView, room: RoomConfig, return_to: str, again: str) -> Response:
    """Served: the admitted session starts (or goes on) and the visitor goes back
    with a handoff token for exactly this return_to, on its origin."""
    svc = services()
    view = svc.engine.claim(room.name, view.ticket)
    if view.state != ADMITTED or view.session_expires_ms is None:
        # The turn lapsed between the two calls: in line again, through this entry.
        return redirect(again, code=302)
    token = svc.provider.tokens.handoff_token(
        sub=svc.provider.subject(view),
        room=room.name,
        session=view.ticket,
        session_expires_at=view.session_expires_ms // 1000,
        return_to=return_to,
        audience=origin_of(return_to),
    )
    response = redirect(with_token(return_to, token), code=302)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _remember(
    response: Response, room: RoomConfig, view: TicketView, held: ticket_cookie.TicketCookie | None
) -> Response:
    """The browser keeps its ticket; what /authorize noted in the cookie stays."""
    svc = services()
    if held is None or held.ticket != view.ticket:
        held = ticket_cookie.TicketCookie(view.ticket, "", int(time.time()))
    secure = not svc.config.insecure_localhost
    ticket_cookie.write(no_store(response), svc.secret, room.name, held, secure=secure)
    return response


@bp.get("/wait/<room>")
def wait(room: str) -> Response:
    svc = services()
    config = svc.config.rooms.get(room)
    if config is None:
        raise WaitRefused(404, "No waiting room with that name.")
    requested = _requested_return_to()
    return_to = _return_to(config, requested)
    held = ticket_cookie.read(request, svc.secret, room)
    door.pass_door(config, held.ticket if held else None, request.path, method="get")
    try:
        view = svc.engine.take(room, held.ticket if held else None)
    except RoomClosed as closed:
        t = pages.translator()
        raise WaitRefused(403, _closed_text(t, closed), t("closed_title")) from None
    again = _continue_url(config, requested)
    if view.has_turn:
        response = _hand_back(view, config, return_to, again)
    else:
        response = pages.waiting_response(view, config, again)
    return _remember(response, config, view, held)


def _closed_text(t: Translator, closed: RoomClosed) -> str:
    """Before a timed sale's line opens, the page says when it does."""
    sale = closed.room.schedule if closed.room else None
    if sale is None or sale.phase != "before":
        return CLOSED
    queue, opens = (
        utc_text(at)[:16].replace("T", " ") for at in (sale.prequeue_opens_at, sale.opens_at)
    )
    return t("opens_later", queue=queue, time=opens)


@bp.errorhandler(WaitRefused)
def refused(exc: WaitRefused) -> Response:
    return pages.error_page(exc.status, exc.title, exc.message)


bp.register_error_handler(redis.RedisError, pages.store_outage_page)
