"""Plugging the authorizer into HTTP: a WSGI middleware, and a forward-auth app
for nginx `auth_request`, Traefik `forwardAuth` and Envoy `ext_authz`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from typing import Any

from .verify import RETRY_AFTER_SECONDS, Authorizer, Denied, Identity

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

ENVIRON_KEY = "waiting_room.identity"
REALM = "waiting-room"


def request_token(
    authorization: str | None, cookie_header: str | None, cookie_name: str | None
) -> str | None:
    """A Bearer token from the Authorization header, else from the named cookie."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if cookie_name and cookie_header:
        try:
            morsel = SimpleCookie(cookie_header).get(cookie_name)
        except CookieError:
            return None
        if morsel is not None and morsel.value:
            return morsel.value
    return None


def identity_headers(identity: Identity) -> list[tuple[str, str]]:
    """What a forward-auth answer hands the proxy to pass on to the upstream."""
    return [
        ("X-Auth-Subject", identity.subject),
        ("X-Auth-Room", identity.room),
        ("X-Auth-Session", identity.session),
        ("X-Auth-Expires", str(identity.expires_at)),
    ]


def denial(exc: Denied, realm: str = REALM) -> tuple[int, list[tuple[str, str]], bytes]:
    """The RFC 6750 §3 answer: no error code in the challenge when no token was
    sent at all, nor for an outage (not an RFC 6750 error)."""
    challenge = f'Bearer realm="{realm}"'
    if exc.error and exc.status != 503:
        challenge += f', error="{exc.error}"'
    headers = [
        ("Content-Type", "application/json"),
        ("Cache-Control", "no-store"),
        ("WWW-Authenticate", challenge),
    ]
    if exc.status == 503:
        headers.append(("Retry-After", str(RETRY_AFTER_SECONDS)))
    body = {"error": exc.error or "invalid_token", "error_description": exc.description}
    return exc.status, headers, json.dumps(body).encode()


def _environ_token(environ: dict[str, Any], cookie_name: str | None) -> str | None:
    return request_token(environ.get("HTTP_AUTHORIZATION"), environ.get("HTTP_COOKIE"), cookie_name)


def respond(
    start_response: Callable[..., Any], status: int, headers: list[tuple[str, str]], body: bytes
) -> list[bytes]:
    start_response(
        f"{status} {HTTPStatus(status).phrase}", [*headers, ("Content-Length", str(len(body)))]
    )
    return [body]


class AuthorizerMiddleware:
    """Lets a request reach `app` only with a valid token of an admitted session.

    The identity is put in `environ["waiting_room.identity"]` and its subject
    in REMOTE_USER. Paths starting with one of `exempt` (health checks, static
    files) pass without a token.
    """

    def __init__(
        self,
        app: WsgiApp,
        authorizer: Authorizer,
        *,
        cookie_name: str | None = None,
        exempt: Iterable[str] = (),
    ):
        self.app = app
        self.authorizer = authorizer
        self.cookie_name = cookie_name
        self.exempt = tuple(exempt)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if self.exempt and environ.get("PATH_INFO", "").startswith(self.exempt):
            return self.app(environ, start_response)
        try:
            identity = self.authorizer.verify(_environ_token(environ, self.cookie_name))
        except Denied as exc:
            return self.refuse(exc, environ, start_response)
        environ[ENVIRON_KEY] = identity
        environ["REMOTE_USER"] = identity.subject
        return self.app(environ, start_response)

    def refuse(
        self, exc: Denied, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """An API answers 401 JSON; a gate for browsers sends them to wait instead."""
        return respond(start_response, *denial(exc))


def forward_auth_app(authorizer: Authorizer, *, cookie_name: str | None = None) -> WsgiApp:
    """A WSGI app answering every request 200 (+ X-Auth-* headers) or 401/503.

    Point nginx `auth_request`, Traefik `forwardAuth` or Envoy `ext_authz`
    (HTTP service) at it; each forwards the original Authorization and Cookie
    headers.
    """

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        try:
            identity = authorizer.verify(_environ_token(environ, cookie_name))
        except Denied as exc:
            return respond(start_response, *denial(exc))
        headers = [*identity_headers(identity), ("Cache-Control", "no-store")]
        return respond(start_response, 200, headers, b"")

    return app
