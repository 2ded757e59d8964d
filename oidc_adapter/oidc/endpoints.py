"""The provider's HTTP surface: discovery, JWKS, /authorize, /token, /userinfo."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from flask import Blueprint, Response, jsonify, redirect, request, url_for

from .. import pages
from ..authorizer import Denied
from ..room.engine import RoomClosed, UnknownTicket
from ..web.context import authorizer, provider, services
from ..web.errors import RETRY_AFTER_SECONDS, no_store
from . import ticket_cookie
from .grants import TicketUser
from .server import Provider

bp = Blueprint("oidc", __name__)

MAX_PARAM_LENGTH = 2048
SINGLE_VALUED = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "ui_locales",
)
TOKEN_PARAMS = ("grant_type", "code", "redirect_uri", "code_verifier", "client_id", "client_secret")


@bp.get("/.well-known/openid-configuration")
def discovery() -> Response:
    issuer = provider().config.issuer
    alg = provider().config.signing_alg
    response = jsonify(
        {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "userinfo_endpoint": f"{issuer}/userinfo",
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": sorted(
                {alg} | {key["alg"] for key in provider().tokens.keys.public_jwks()["keys"]}
            ),
            "userinfo_signing_alg_values_supported": ["none"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "profile"],
            "claims_supported": [
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "at_hash",
                "room",
                "sid",
            ],
            "prompt_values_supported": ["none", "login"],
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "authorization_response_iss_parameter_supported": True,
        }
    )
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    response = jsonify(provider().tokens.keys.public_jwks())
    # Short, so a rotation's new key is seen quickly by caches in front of us.
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


def _error_redirect(redirect_uri: str, error: str, description: str, state: str | None) -> Response:
    params = [("error", error), ("error_description", description)]
    if state:
        params.append(("state", state))
    params.append(("iss", provider().config.issuer))
    return no_store(redirect(add_params_to_uri(redirect_uri, params), code=302))


def _oauth_error(exc: OAuth2Error, values: Any) -> Response:
    """Redirect only where the client and redirect URI were verified; else an error page."""
    if exc.redirect_uri:
        return _error_redirect(
            exc.redirect_uri, exc.error, exc.description or exc.error, values.get("state")
        )
    return pages.error_page(
        400, "This sign-in link is not valid", exc.description or "The request was not valid."
    )


def _param_problem(values: Any, name: str) -> str | None:
    if len(values.getlist(name)) > 1:
        return f"'{name}' is repeated."
    if len(values.get(name, "")) > MAX_PARAM_LENGTH:
        return f"'{name}' is too long."
    return None


def _check_request(values: Any) -> tuple[Any, str] | Response:
    """Client and redirect URI are checked first and fail on our page, never by redirect;
    once both are known good, any other bad parameter is answered by redirect
    (RFC 6749 §4.1.2.1), before anything is stored."""
    for name in ("client_id", "redirect_uri"):
        problem = _param_problem(values, name)
        if problem:
            return pages.error_page(400, "This sign-in link is not valid", problem)
    client = provider().clients.get(values.get("client_id", ""))
    if client is None:
        return pages.error_page(
            400, "Unknown application", "The application that sent you here is not registered."
        )
    redirect_uri = values.get("redirect_uri") or client.get_default_redirect_uri()
    if not redirect_uri or not client.check_redirect_uri(redirect_uri):
        return pages.error_page(
            400, "This sign-in link is not valid", "The return address is not registered."
        )
    state = None if _param_problem(values, "state") else values.get("state")
    for name in SINGLE_VALUED:
        problem = _param_problem(values, name)
        if problem:
            return _error_redirect(redirect_uri, "invalid_request", problem, state)
    max_age = values.get("max_age")
    if max_age and not (max_age.isascii() and max_age.isdigit()):
        return _error_redirect(
            redirect_uri, "invalid_request", "'max_age' must be a whole number of seconds.", state
        )
    for name, error in (
        ("request", "request_not_supported"),
        ("request_uri", "request_uri_not_supported"),
    ):
        if values.get(name):
            return _error_redirect(redirect_uri, error, f"'{name}' is not supported.", state)
    return client, redirect_uri


@bp.route("/authorize", methods=["GET", "POST"])
def authorize() -> Response:
    p = provider()
    values = request.values
    checked = _check_request(values)
    if isinstance(checked, Response):
        return checked
    client, redirect_uri = checked
    state = values.get("state")
    pending = TicketUser(view=None, sub="", auth_time=0)  # type: ignore[arg-type]
    try:
        grant = p.get_consent_grant(end_user=pending)
    except OAuth2Error as exc:
        return _oauth_error(exc, values)

    room = p.config.rooms[client.room]
    secret = services().secret
    cookie = ticket_cookie.read(request, secret, room.name)
    prompt = values.get("prompt", "").split()
    if "none" in prompt:
        # A silent check never puts anyone in line: only a live turn answers it.
        view = _live_ticket(p, room.name, cookie)
        if view is None or view.state not in ("served", "admitted"):
            return _error_redirect(
                redirect_uri, "login_required", "The user has not been admitted yet.", state
            )
    else:
        try:
            view = p.engine.take(room.name, cookie.ticket if cookie else None)
        except RoomClosed:
            return _error_redirect(
                redirect_uri, "access_denied", "The waiting room is closed.", state
            )

    now = int(time.time())
    fingerprint = ticket_cookie.request_fingerprint(values)
    started = cookie.started if cookie and cookie.request == fingerprint else now

    if view.state in ("served", "admitted"):
        if now - started > client.settings.login_timeout:
            # The RP has most likely forgotten this login: have it start a fresh
            # one, which we answer at once because the ticket is served.
            response = no_store(redirect(client.settings.initiate_login_uri, code=302))
            fingerprint, started = "", now
        else:
            user = TicketUser(view=view, sub=p.subject(view), auth_time=now)
            response = no_store(p.issue_code(grant, user))
    else:
        response = _waiting_response(view, room, values)

    ticket_cookie.write(
        response,
        secret,
        room.name,
        ticket_cookie.TicketCookie(view.ticket, fingerprint, started),
        secure=not p.config.insecure_localhost,
    )
    return response


def _live_ticket(p: Provider, room: str, cookie: Any) -> Any:
    if cookie is None:
        return None
    try:
        return p.engine.status(room, cookie.ticket)
    except UnknownTicket:
        return None


def _waiting_response(view: Any, room: Any, values: Any) -> Response:
    continue_url = url_for("oidc.authorize") + "?" + urlencode(list(values.items(multi=True)))
    status_url = url_for("rooms_api.ticket_status", room=room.name, ticket=view.ticket)
    if request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json":
        return pages.waiting_json(view, room, continue_url, status_url)
    return pages.waiting_page(view, room, continue_url, status_url)


def _token_error(status: int, error: str, description: str) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = f'Basic realm="token", error="{error}"'
    return no_store(response)


@bp.post("/token")
def token() -> Response:
    try:
        basic_id, _ = extract_basic_authorization(request.headers)
    except ValueError:  # credentials that are not UTF-8
        return _token_error(401, "invalid_client", "The client credentials are malformed.")
    repeated = next((n for n in TOKEN_PARAMS if len(request.form.getlist(n)) > 1), None)
    if repeated:
        return _token_error(400, "invalid_request", f"'{repeated}' is repeated.")
    if basic_id and (
        "client_secret" in request.form
        or "client_id" in request.form
        and request.form.get("client_id") != basic_id
    ):
        return _token_error(
            400, "invalid_request", "Use one client authentication method per request."
        )
    response = no_store(provider().create_token_response())
    if response.status_code == 401 and "WWW-Authenticate" not in response.headers:
        response.headers["WWW-Authenticate"] = 'Basic realm="token", error="invalid_client"'
    return response


def _bearer_error(status: int, error: str | None, description: str) -> Response:
    """RFC 6750 §3: a request with no token at all gets a challenge without an error code."""
    response = jsonify(error=error or "invalid_token", error_description=description)
    response.status_code = status
    challenge = 'Bearer realm="userinfo"'
    if error:
        challenge += f', error="{error}"'
    response.headers["WWW-Authenticate"] = challenge
    if status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return no_store(response)


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    header = request.headers.get("Authorization", "")
    scheme, _, header_token = header.partition(" ")
    form_token = request.form.get("access_token") if request.method == "POST" else None
    if len(request.form.getlist("access_token")) > 1:
        return _bearer_error(400, "invalid_request", "Send the token only once.")
    if request.args.get("access_token"):
        return _bearer_error(400, "invalid_request", "Tokens in the URL are not accepted.")
    if header and scheme.lower() != "bearer":
        return _bearer_error(401, "invalid_token", "Use a Bearer access token.")
    if header_token.strip() and form_token:
        return _bearer_error(400, "invalid_request", "Send the token only once.")
    bearer = header_token.strip() or form_token
    if not bearer:
        return _bearer_error(401, None, "An access token is required.")
    try:
        identity = authorizer().verify(bearer)
    except Denied as exc:
        return _bearer_error(exc.status, exc.error, exc.description)
    return no_store(jsonify(sub=identity.subject, room=identity.room))
