"""The operator dashboard's sign-in: an admin token traded for a short-lived cookie.

The cookie is signed with the instance secret and says whose token it came
from, until when it holds, and a hash of that token: changing or removing the
token in the config ends every session made with it. It is HttpOnly,
SameSite=Strict, and Secure (with the `__Host-` prefix) under an https issuer.

Every state-changing call also carries a CSRF token derived from the session
cookie by HMAC (so it needs no storage and dies with the session); the sign-in
form, which comes before any session, uses a double-submit cookie instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from flask import Request, Response
from itsdangerous import BadSignature, URLSafeSerializer

from .ticket_cookie import HOST_PREFIX

#: How long a dashboard session lasts: a sign-in per shift, not per sale.
SESSION_SECONDS = 3600
COOKIE = "wr_admin"
SIGNIN_COOKIE = "wr_admin_signin"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
SALT = "admin-dashboard"


@dataclass(frozen=True)
class AdminSession:
    name: str
    expires: int
    #: The signed cookie value, which the CSRF token is bound to.
    raw: str


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=SALT)


def _mac(secret: str, purpose: str, value: str) -> str:
    return hmac.new(secret.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def _same(a: str, b: str) -> bool:
    """Constant-time, and for any text a client sends (compare_digest refuses
    non-ASCII strings, not bytes)."""
    return hmac.compare_digest(a.encode(), b.encode())


def token_binding(secret: str, token: str) -> str:
    """What the cookie keeps of the token: a keyed hash, never the token."""
    return _mac(secret, "admin-token", token)[:32]


def cookie_name(secure: bool) -> str:
    return (HOST_PREFIX if secure else "") + COOKIE


def issue(secret: str, name: str, token: str, now: float | None = None) -> str:
    expires = int(now if now is not None else time.time()) + SESSION_SECONDS
    return _serializer(secret).dumps({"n": name, "b": token_binding(secret, token), "e": expires})


def read(
    secret: str, raw: str | None, credentials: dict[str, str], now: float | None = None
) -> AdminSession | None:
    """The session a cookie holds, if it is genuine, unexpired and its token
    is still configured unchanged under the same name."""
    if not raw:
        return None
    try:
        data = _serializer(secret).loads(raw)
        name, binding, expires = str(data["n"]), str(data["b"]), int(data["e"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    token = credentials.get(name)
    if token is None or expires <= (now if now is not None else time.time()):
        return None
    if not _same(binding, token_binding(secret, token)):
        return None
    return AdminSession(name, expires, raw)


def from_request(request: Request, secret: str, credentials: dict[str, str]) -> AdminSession | None:
    raw = request.cookies.get(cookie_name(True)) or request.cookies.get(cookie_name(False))
    return read(secret, raw, credentials)


def csrf_token(secret: str, session: AdminSession) -> str:
    return _mac(secret, "admin-csrf", session.raw)


def csrf_ok(secret: str, session: AdminSession, given: str | None) -> bool:
    return bool(given) and _same(csrf_token(secret, session), str(given))


def write(response: Response, value: str, secure: bool) -> None:
    response.set_cookie(
        cookie_name(secure),
        value,
        max_age=SESSION_SECONDS,
        secure=secure,
        httponly=True,
        samesite="Strict",
        path="/",
    )


def clear(response: Response, secure: bool) -> None:
    response.delete_cookie(
        cookie_name(secure), secure=secure, httponly=True, samesite="Strict", path="/"
    )


def new_signin_nonce() -> str:
    return secrets.token_urlsafe(24)


def write_signin_nonce(response: Response, nonce: str, secure: bool) -> None:
    """The double-submit half the form does not carry: a page of another site
    can post a form to us but cannot read or set this cookie."""
    response.set_cookie(
        (HOST_PREFIX if secure else "") + SIGNIN_COOKIE,
        nonce,
        max_age=SESSION_SECONDS,
        secure=secure,
        httponly=True,
        samesite="Strict",
        path="/",
    )


def signin_nonce_ok(request: Request, given: str | None) -> bool:
    cookie = request.cookies.get(HOST_PREFIX + SIGNIN_COOKIE) or request.cookies.get(SIGNIN_COOKIE)
    return bool(cookie and given) and _same(str(cookie), str(given))
