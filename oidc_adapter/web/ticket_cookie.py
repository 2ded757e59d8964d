"""The browser's ticket for a room, in a signed cookie on our domain.

Besides the ticket id it remembers which authorization request the browser
is waiting on and since when, so a served user whose request has outlived
the relying party's login state is sent to start a fresh login instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from flask import Request, Response
from itsdangerous import BadSignature, URLSafeSerializer

COOKIE_PREFIX = "wr_"
#: With an https issuer the cookie is `__Host-wr_<room>`: browsers then refuse it
#: unless Secure, host-only and Path=/, so a sibling subdomain cannot plant one.
HOST_PREFIX = "__Host-"
MAX_AGE_SECONDS = 7 * 86400
REQUEST_FIELDS = ("client_id", "redirect_uri", "state", "nonce", "code_challenge", "scope")


@dataclass(frozen=True)
class TicketCookie:
    ticket: str
    request: str
    started: int


def request_fingerprint(values: Mapping[str, str]) -> str:
    joined = "\x1f".join(values.get(name, "") for name in REQUEST_FIELDS)
    return hashlib.sha256(joined.encode()).hexdigest()[:24]


def _serializer(secret: str, room: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=f"ticket-cookie:{room}")


def cookie_name(room: str, secure: bool) -> str:
    return (HOST_PREFIX if secure else "") + COOKIE_PREFIX + room


def read(request: Request, secret: str, room: str) -> TicketCookie | None:
    """The browser's ticket; a cookie set before the prefix existed still counts."""
    raw = request.cookies.get(cookie_name(room, True)) or request.cookies.get(
        cookie_name(room, False)
    )
    if not raw:
        return None
    try:
        data = _serializer(secret, room).loads(raw)
        return TicketCookie(str(data["t"]), str(data["r"]), int(data["s"]))
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


def write(response: Response, secret: str, room: str, cookie: TicketCookie, secure: bool) -> None:
    value = _serializer(secret, room).dumps(
        {"t": cookie.ticket, "r": cookie.request, "s": cookie.started}
    )
    response.set_cookie(
        cookie_name(room, secure),
        value,
        max_age=MAX_AGE_SECONDS,
        secure=secure,
        httponly=True,
        samesite="Lax",
        path="/",
    )
