"""The redirect integration on the site's side, for Python sites without a proxy.

    from oidc_adapter.authorizer import Authorizer, SessionCheck, WaitingRoomGate

    authorizer = Authorizer("https://wait.example.com", rooms=["shop"],
                            sessions=SessionCheck.from_redis("redis://queue:6379/0"))
    app.wsgi_app = WaitingRoomGate(app.wsgi_app, issuer="https://wait.example.com",
                                   room="shop", authorizer=authorizer)

A browser without a valid cookie is sent to the waiting room's
`/wait/<room>?return_to=<this URL>`. When its turn comes the waiting room
sends it back to that URL with a one-time `wr_token`; the gate redeems it
server to server at `/auth/handoff` (so the token is spent before any page
of the site renders), sets the access token as an HttpOnly cookie and
redirects to the clean URL. The nginx setup in docs/integrations.md does the
same with a proxied location.
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, quote, urlencode
from wsgiref.util import request_uri

import requests

from ..return_to import TOKEN_PARAM
from .verify import Authorizer, Denied, TokenKind, Unavailable
from .wsgi import AuthorizerMiddleware, WsgiApp, denial, respond

log = logging.getLogger(__name__)

HANDOFF_TOKEN_TYPE = "wr-handoff+jwt"  # noqa: S105 (a JWT type, not a secret)
#: What /auth/handoff accepts: a few seconds of life plus a small clock skew.
HANDOFF_TOKEN = TokenKind(
    "handoff token",
    (HANDOFF_TOKEN_TYPE,),
    ("iss", "aud", "exp", "iat", "jti", "sub", "room", "sid", "session_exp", "return_to"),
    leeway=5,
)
#: Methods a browser repeats by itself after a redirect; others would lose their body.
REDIRECTABLE = ("GET", "HEAD")
REFUSED_PAGE = (
    "<!doctype html><meta charset=utf-8><meta name=referrer content=no-referrer>"
    "<title>Link expired</title><h1>This link has expired</h1>"
    '<p>It was already used or is too old. <a href="{href}">Continue</a></p>\n'
)


def _query_token(environ: dict[str, Any]) -> list[str] | None:
    values = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).get(TOKEN_PARAM)
    return values or None


def _clean_path(environ: dict[str, Any]) -> str:
    """This request's path and query without the handoff token, for a link back."""
    pairs = [
        (k, v)
        for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()
        if k != TOKEN_PARAM
    ]
    query = urlencode(pairs, doseq=True)
    path = quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""), encoding="latin1")
    return (path or "/") + (f"?{query}" if query else "")


def session_cookie(name: str, value: str, path: str, max_age: int, secure: bool) -> str:
    """The site's cookie: never readable by scripts, sent on top-level navigations."""
    cookie = f"{name}={value}; Max-Age={max(0, max_age)}; Path={path}; HttpOnly; SameSite=Lax"
    return cookie + ("; Secure" if secure else "")


class WaitingRoomGate(AuthorizerMiddleware):
    """Lets a browser reach `app` only with the cookie of an admitted session,
    sending it to wait for its turn otherwise. Non-GET requests without a
    valid cookie get the plain 401 (a redirect would drop their body), and so
    does an outage (503): bouncing people to the waiting room would not help.
    """

    def __init__(
        self,
        app: WsgiApp,
        *,
        issuer: str,
        room: str,
        authorizer: Authorizer,
        cookie_name: str = "wr_at",
        exempt: Iterable[str] = (),
        session: requests.Session | None = None,
        timeout: float = 5.0,
    ):
        super().__init__(app, authorizer, cookie_name=cookie_name, exempt=exempt)
        self.cookie_name: str = cookie_name
        self.issuer = issuer.rstrip("/")
        self.room = room
        self.session = session or requests.Session()
        self.timeout = timeout

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        tokens = _query_token(environ)
        if tokens is None or environ.get("REQUEST_METHOD") not in REDIRECTABLE:
            return super().__call__(environ, start_response)
        if len(tokens) != 1:
            return self._refused(400, environ, start_response)
        return self._redeem(tokens[0], environ, start_response)

    def wait_url(self, environ: dict[str, Any]) -> str:
        """The waiting room's entry for this room, to come back to this very URL."""
        query = urlencode({"return_to": request_uri(environ, include_query=True)})
        return f"{self.issuer}/wait/{quote(self.room, safe='')}?{query}"

    def refuse(
        self, exc: Denied, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if exc.status == 503 or environ.get("REQUEST_METHOD") not in REDIRECTABLE:
            return super().refuse(exc, environ, start_response)
        headers = [("Location", self.wait_url(environ)), ("Cache-Control", "no-store")]
        return respond(start_response, 302, headers, b"")

    def _redeem(
        self, handoff: str, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Spend the handoff at the waiting room, then continue on the clean URL."""
        try:
            answer = self.session.get(
                f"{self.issuer}/auth/handoff",
                params={TOKEN_PARAM: handoff},
                headers={"Accept": "application/json"},
                timeout=self.timeout,
                allow_redirects=False,
            )
            if answer.status_code < 500 and answer.status_code != 200:
                return self._refused(answer.status_code, environ, start_response)
            answer.raise_for_status()
            data = answer.json()
            token, return_to = str(data["access_token"]), str(data["return_to"])
            max_age = int(data["expires_at"]) - int(time.time())
            path = str(data["cookie"]["path"])
            secure = return_to.startswith("https:")
            cookie = session_cookie(self.cookie_name, token, path, max_age, secure)
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            log.warning("cannot redeem a waiting-room handoff: %s", exc)
            status, headers, body = denial(Unavailable("The waiting room cannot be reached."))
            return respond(start_response, status, headers, body)
        headers = [
            ("Location", return_to),
            ("Set-Cookie", cookie),
            ("Cache-Control", "no-store"),
            ("Referrer-Policy", "no-referrer"),
        ]
        return respond(start_response, 302, headers, b"")

    def _refused(
        self, status: int, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Replayed, expired or forged: a page, never a redirect. Its link leads to
        the clean URL, where a visitor still admitted gets a fresh handoff."""
        body = REFUSED_PAGE.format(href=html.escape(_clean_path(environ))).encode()
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Cache-Control", "no-store"),
            ("Referrer-Policy", "no-referrer"),
        ]
        return respond(start_response, status if status in (400, 403) else 403, headers, body)
