"""`GET /auth/handoff?wr_token=…`: a visitor back from /wait trades its one-time
handoff token for the site's session cookie.

The site's proxy forwards this from a location on the site's own domain (or
the WSGI gate calls it server to server with `Accept: application/json`), so
the cookie lands on the site, where `/auth/verify?cookie=` reads it on every
request. The token is checked like an access token (our keys, `iss`, `exp`,
its own `typ`) and then: its `aud` is the origin of the `return_to` it signs,
that origin is still one of the room's `return_origins`, its `jti` is
redeemed once (Redis SET NX) and its session is still admitted. Any refusal
is an error page (400/403), never a redirect.
"""

from __future__ import annotations

import re
from typing import Any

import redis
from flask import Blueprint, Response, current_app, jsonify, redirect, request

from ..authorizer import HANDOFF_TOKEN, Denied
from ..authorizer.verify import MAX_TOKEN_LENGTH
from ..config import RoomConfig
from ..return_to import TOKEN_PARAM, ReturnToRefused, check_return_to, origin_of
from ..room.engine import UnknownTicket
from ..room.states import ADMITTED
from ..services import services
from . import pages
from .errors import ApiError
from .responses import json_error, no_store

bp = Blueprint("handoff", __name__)

#: Longer than a token lives (plus leeway), so a replay always finds the mark.
REDEEMED_TTL_SECONDS = 60
JTI = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
SID = re.compile(r"^[A-Za-z0-9_-]{22}$")
EXPIRED_TITLE = "This link has expired"
EXPIRED_TEXT = "Links from the waiting room work once, for a few seconds. Open the site again."


class HandoffRefused(ApiError):
    """JSON for the WSGI gate, our error page for a browser (see `refused`)."""


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def _signed_claims(token: str | None) -> dict[str, Any]:
    if not token or len(token) > MAX_TOKEN_LENGTH or len(request.args.getlist(TOKEN_PARAM)) > 1:
        raise HandoffRefused(400, "invalid_request", f"Send one '{TOKEN_PARAM}'.")
    try:
        return services().authorizer(check_sessions=False).signed_claims(token, HANDOFF_TOKEN, None)
    except Denied as exc:
        status = 503 if exc.status == 503 else 403
        raise HandoffRefused(status, "invalid_token", exc.description) from exc


def _checked(claims: dict[str, Any]) -> tuple[RoomConfig, str, str, str]:
    """(room, return_to, session, jti) of a handoff still good for its site."""
    room = services().config.rooms.get(str(claims["room"]))
    return_to, sid, jti = claims["return_to"], claims["sid"], claims["jti"]
    if room is None or not all(isinstance(v, str) for v in (return_to, sid, jti)):
        raise HandoffRefused(403, "invalid_token", "The handoff token is malformed.")
    if not SID.fullmatch(sid) or not JTI.fullmatch(jti):
        raise HandoffRefused(403, "invalid_token", "The handoff token is malformed.")
    try:
        check_return_to(return_to, room.return_origins)
    except ReturnToRefused:
        raise HandoffRefused(403, "invalid_token", "Its site is no longer configured.") from None
    if claims["aud"] != origin_of(return_to):
        raise HandoffRefused(403, "invalid_token", "The handoff token is for another site.")
    asked = request.args.get("return_to")
    if asked is not None and asked != return_to:
        raise HandoffRefused(403, "invalid_token", "The handoff token is for another address.")
    return room, return_to, sid, jti


def _redeem_once(jti: str) -> None:
    key = f"wr:handoff:{{{jti}}}"
    if not services().redis.set(key, "1", nx=True, ex=REDEEMED_TTL_SECONDS):
        raise HandoffRefused(403, "invalid_token", "The handoff token was already used.")


def _answer(room: RoomConfig, return_to: str, token: dict[str, Any]) -> Response:
    """JSON for the WSGI gate, or the cookie and a redirect to the clean URL."""
    if _wants_json():
        cookie = {"name": room.handoff_cookie, "path": room.handoff_cookie_path}
        body = {"access_token": token["access_token"], "expires_at": token["expires_at"]}
        return no_store(jsonify(**body, return_to=return_to, cookie=cookie))
    response = redirect(return_to, code=302)
    response.set_cookie(
        room.handoff_cookie,
        token["access_token"],
        max_age=token["expires_in"],
        path=room.handoff_cookie_path,
        secure=return_to.startswith("https:"),
        httponly=True,
        samesite="Lax",
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    return no_store(response)


@bp.get("/auth/handoff")
def handoff() -> Response:
    room, return_to, sid, jti = _checked(_signed_claims(request.args.get(TOKEN_PARAM)))
    _redeem_once(jti)
    svc = services()
    try:
        view = svc.engine.status(room.name, sid, heartbeat=False)
    except UnknownTicket:
        view = None
    if view is None or view.state != ADMITTED:
        raise HandoffRefused(403, "session_ended", "The session has ended.")
    return _answer(room, return_to, svc.provider.room_token(view))


@bp.errorhandler(HandoffRefused)
def refused(exc: HandoffRefused) -> Response:
    current_app.logger.info("handoff refused: %s", exc.description)
    if _wants_json():
        return json_error(exc.status, exc.error, exc.description)
    return pages.error_page(exc.status, EXPIRED_TITLE, EXPIRED_TEXT, elsewhere=True)


#: A browser gets a page to reload; the WSGI gate reads only the status (503).
bp.register_error_handler(redis.RedisError, pages.store_outage_page)
