"""Admitted sessions outside the OIDC flow: the direct-API token, early exit,
and the forward-auth endpoint proxies ask on every request.

- `POST /api/rooms/<room>/tickets/<ticket>/token`: the taker of a served
  ticket (proved by its ticket secret or the browser's ticket cookie) gets
  an access token; its admitted session starts on the first call.
- `POST /api/sessions/end`: the protected site, authenticated with its
  client credentials, ends a session of its room early and frees the slot.
- `/auth/verify`: 200 with X-Auth-* headers, or 401, for nginx
  `auth_request`, Traefik `forwardAuth` and Envoy `ext_authz`.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749.util import extract_basic_authorization
from flask import Blueprint, Response, jsonify, request

from ..authorizer import Denied, api_audience
from ..authorizer.wsgi import denial, identity_headers, request_token
from ..oidc import ticket_cookie
from ..oidc.clients import Client
from ..room.present import heartbeat_interval, ticket_json
from ..room.views import TicketView
from ..secret import check_ticket_proof
from . import validate
from .context import authorizer, provider, services
from .errors import ApiError, json_error, no_store

bp = Blueprint("session_api", __name__)

TICKET_AUTH_SCHEME = "Ticket"
MAX_SECRET_LENGTH = 128
#: Every method a proxied request may have: auth_request sends the original one.
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


# -- the direct-API token --------------------------------------------------


def _require_ticket_owner(room: str, ticket: str) -> None:
    """Only whoever took the ticket may use it; checked before Redis is touched."""
    secret = services().secret
    scheme, _, from_header = request.headers.get("Authorization", "").partition(" ")
    if scheme and scheme.lower() != TICKET_AUTH_SCHEME.lower():
        raise ApiError(
            401,
            "invalid_request",
            f"Use 'Authorization: {TICKET_AUTH_SCHEME} <ticket_secret>'.",
            {"WWW-Authenticate": f'{TICKET_AUTH_SCHEME} realm="{room}"'},
        )
    from_body = validate.json_body().get("ticket_secret")
    if from_header.strip() and from_body is not None:
        raise ApiError(400, "invalid_request", "Send the ticket secret only once.")
    proof = from_header.strip() or from_body
    if proof is not None:
        if (
            not isinstance(proof, str)
            or len(proof) > MAX_SECRET_LENGTH
            or not check_ticket_proof(secret, room, ticket, proof)
        ):
            raise ApiError(403, "invalid_ticket_secret", "The ticket secret does not match.")
        return
    cookie = ticket_cookie.read(request, secret, room)
    if cookie is not None and cookie.ticket == ticket:
        return
    if cookie is not None:
        raise ApiError(403, "invalid_ticket_secret", "This browser holds another ticket.")
    raise ApiError(
        401,
        "ticket_secret_required",
        "Prove you took this ticket: send its ticket_secret.",
        {"WWW-Authenticate": f'{TICKET_AUTH_SCHEME} realm="{room}"'},
    )


def _token_response(view: TicketView) -> Response:
    p = provider()
    room = view.room.name
    assert view.session_expires_ms is not None
    expires_at = view.session_expires_ms // 1000
    audience = api_audience(p.config.issuer, room)
    token = p.tokens.access_token(
        sub=p.subject(view),
        audience=audience,
        client_id=f"room:{room}",
        room=room,
        session=view.ticket,
        scope="",
        expires_at=expires_at,
        auth_time=view.changed_s,
    )
    return no_store(
        jsonify(
            token_type="Bearer",  # noqa: S106 (a token type, not a secret)
            access_token=token,
            expires_in=max(1, (view.session_expires_ms - view.room.now_ms) // 1000),
            expires_at=expires_at,
            room=room,
            session=view.ticket,
            audience=audience,
        )
    )


@bp.delete("/api/rooms/<room>/tickets/<ticket>")
def leave_line(room: str, ticket: str) -> Response:
    """The taker gives the ticket up: its place or slot goes to the next person at once."""
    room = validate.known_room(room)
    ticket = validate.ticket_id(ticket)
    _require_ticket_owner(room, ticket)
    return no_store(jsonify(ticket_json(services().engine.finish(room, ticket, "done"))))


@bp.post("/api/rooms/<room>/tickets/<ticket>/token")
def ticket_token(room: str, ticket: str) -> Response:
    """Served: start (or return) the admitted session and sign a token for it."""
    room = validate.known_room(room)
    ticket = validate.ticket_id(ticket)
    _require_ticket_owner(room, ticket)
    engine = services().engine
    # The owner asking is alive: this counts as a heartbeat while waiting.
    view = engine.status(room, ticket)
    if view.state in ("served", "admitted"):
        view = engine.claim(room, ticket)
    if view.state == "admitted":
        return _token_response(view)
    if view.state in ("waiting", "served"):
        return json_error(
            409,
            "not_served",
            "This ticket has not been served yet; poll its status.",
            {"Retry-After": str(heartbeat_interval(view.room))},
            **ticket_json(view),
        )
    return json_error(
        410, "ticket_ended", f"This ticket is {view.state}; take a new one.", **ticket_json(view)
    )


# -- early exit ------------------------------------------------------------


def _params() -> dict[str, Any]:
    if request.mimetype == "application/json":
        return validate.json_body()
    return request.form.to_dict()


def _authenticated_client(params: dict[str, Any]) -> Client:
    """client_secret_basic or client_secret_post, exactly as /token accepts them."""
    basic_id, basic_secret = extract_basic_authorization(request.headers)
    if basic_id and ("client_secret" in params or "client_id" in params):
        raise ApiError(400, "invalid_request", "Use one client authentication method.")
    client_id, secret = (
        (basic_id, basic_secret)
        if basic_id
        else (params.get("client_id"), params.get("client_secret"))
    )
    client = provider().clients.get(client_id) if isinstance(client_id, str) else None
    if client is None or not isinstance(secret, str) or not client.check_client_secret(secret):
        raise ApiError(
            401,
            "invalid_client",
            "Client authentication failed.",
            {"WWW-Authenticate": 'Basic realm="sessions"'},
        )
    return client


@bp.post("/api/sessions/end")
def end_session() -> Response:
    """The site ends one of its room's sessions (checkout, logout); the slot frees at once."""
    params = _params()
    client = _authenticated_client(params)
    token, sid = params.get("token"), params.get("sid")
    if (token is None) == (sid is None):
        raise ApiError(400, "invalid_request", "Send either 'token' or 'sid'.")
    room = client.room
    if token is not None:
        try:
            # Ended sessions included: ending one twice is not an error.
            identity = authorizer(check_sessions=False).verify(str(token))
        except Denied as exc:
            raise ApiError(400, "invalid_token", exc.description) from exc
        if identity.room != room:
            raise ApiError(403, "wrong_room", "That session belongs to another room.")
        sid = identity.session
    sid = validate.ticket_id(sid, "sid")
    engine = services().engine
    view = engine.status(room, sid, heartbeat=False)
    if view.state == "waiting":
        raise ApiError(409, "session_not_started", "That ticket is still waiting in line.")
    ended = view.state in ("served", "admitted")
    if ended:
        view = engine.finish(room, sid, "done")
    return no_store(jsonify(room=room, sid=sid, state=view.state, ended=ended))


# -- forward auth ----------------------------------------------------------


@bp.route("/auth/verify", methods=ANY_METHOD, provide_automatic_options=False)
def verify() -> Response:
    """Forward auth. `?room=` limits it to one room; `?cookie=` names a token cookie."""
    room = request.args.get("room")
    gate = authorizer(validate.known_room(room) if room else None)
    token = request_token(
        request.headers.get("Authorization"),
        request.headers.get("Cookie"),
        request.args.get("cookie"),
    )
    try:
        identity = gate.verify(token)
    except Denied as exc:
        status, headers, body = denial(exc)
        return Response(body, status, headers)
    return no_store(Response(b"", 200, identity_headers(identity)))
