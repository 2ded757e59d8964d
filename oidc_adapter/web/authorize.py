"""/authorize: a login waits in line, as a short list of named steps.

    check_request → guard_join → resolve_ticket → decide → remember_ticket

Each step reads and fills one `Login`. Any step may raise
`AuthorizationError`; one handler turns it into our error page (client or
redirect URI not verified) or a redirect back to the client with `error=`.
A Redis outage mid-login is a page too: the browser is not an API client.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import redis
from flask import Blueprint, Response, redirect, request, url_for

from ..config import RoomConfig
from ..oidc.authorization_request import (
    AuthorizationError,
    AuthorizationRequest,
    parse_authorization_request,
)
from ..room.engine import RoomClosed, UnknownTicket
from ..room.results import TicketView
from ..services import services
from . import door, pages, ticket_cookie
from .responses import no_store

bp = Blueprint("authorize", __name__)


@dataclass
class Login:
    """One /authorize request on its way through the steps."""

    request: AuthorizationRequest
    room: RoomConfig
    cookie: ticket_cookie.TicketCookie | None
    view: TicketView | None = None
    #: The request the browser waits on, and since when (see ticket_cookie).
    fingerprint: str = ""
    started: int = 0
    response: Response | None = None


def check_request() -> Login:
    """Parse the request once; nothing is stored before it passes."""
    svc = services()
    checked = parse_authorization_request(request.values, svc.provider.clients)
    room = svc.config.rooms[checked.client.room]
    return Login(checked, room, ticket_cookie.read(request, svc.secret, room.name))


def guard_join(login: Login) -> None:
    """A new visitor pays the room's price of a ticket (proof of work, CAPTCHA,
    per-source limit) before one is taken; a held live ticket passes freely."""
    if "none" in login.request.prompt:
        return  # only looks, never takes
    held = login.cookie.ticket if login.cookie else None
    door.pass_door(login.room, held, url_for("authorize.authorize"))


def resolve_ticket(login: Login) -> None:
    """Take a ticket (or get the browser's back); prompt=none only looks."""
    engine = services().engine
    held = login.cookie.ticket if login.cookie else None
    if "none" in login.request.prompt:
        # A silent check never puts anyone in line: only a live turn answers it.
        try:
            login.view = engine.status(login.room.name, held) if held else None
        except UnknownTicket:
            login.view = None
        if login.view is None or not login.view.has_turn:
            raise login.request.refuse("login_required", "The user has not been admitted yet.")
        return
    try:
        login.view = engine.take(login.room.name, held)
    except RoomClosed:
        raise login.request.refuse("access_denied", "The waiting room is closed.") from None


def decide(login: Login) -> None:
    """A code, a fresh login when the RP has likely forgotten this one, or the wait."""
    assert login.view is not None
    now = int(time.time())
    login.fingerprint = ticket_cookie.request_fingerprint(request.values)
    cookie = login.cookie
    login.started = cookie.started if cookie and cookie.request == login.fingerprint else now
    if not login.view.has_turn:
        login.response = _waiting(login.view, login.room)
    elif now - login.started > login.request.client.settings.login_timeout:
        # The RP has most likely forgotten this login: have it start a fresh
        # one, which we answer at once because the ticket is served.
        login.response = redirect(login.request.client.settings.initiate_login_uri, code=302)
        login.fingerprint, login.started = "", now
    else:
        provider = services().provider
        location = provider.issue_code(login.request, login.view, auth_time=now)
        login.response = redirect(location, code=302)


def remember_ticket(login: Login) -> None:
    """The browser keeps its ticket and the request it waits on."""
    assert login.response is not None and login.view is not None
    svc = services()
    ticket_cookie.write(
        no_store(login.response),
        svc.secret,
        login.room.name,
        ticket_cookie.TicketCookie(login.view.ticket, login.fingerprint, login.started),
        secure=not svc.config.insecure_localhost,
    )


STEPS: tuple[Callable[[Login], None], ...] = (
    guard_join,
    resolve_ticket,
    decide,
    remember_ticket,
)


@bp.route("/authorize", methods=["GET", "POST"])
def authorize() -> Response:
    login = check_request()
    for step in STEPS:
        step(login)
    assert login.response is not None
    return login.response


def _waiting(view: TicketView, room: RoomConfig) -> Response:
    query = urlencode(door.request_items())
    return pages.waiting_response(view, room, url_for("authorize.authorize") + "?" + query)


@bp.errorhandler(AuthorizationError)
def refused(exc: AuthorizationError) -> Response:
    """The one place that decides: back to the verified client, or our page."""
    if exc.redirect_uri:
        return no_store(redirect(services().provider.error_redirect(exc), code=302))
    return pages.error_page(400, exc.title, exc.description)


#: A browser in the middle of a login gets a page, not JSON.
bp.register_error_handler(redis.RedisError, pages.store_outage_page)
