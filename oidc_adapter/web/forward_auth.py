"""`/auth/verify`: 200 with X-Auth-* headers, or 401, for nginx `auth_request`,
Traefik `forwardAuth` and Envoy `ext_authz`, asked on every proxied request."""

from __future__ import annotations

from flask import Blueprint, Response, request

from ..authorizer import Denied
from ..authorizer.wsgi import denial, identity_headers, request_token
from ..services import services
from . import validate
from .errors import ApiError
from .responses import no_store

bp = Blueprint("forward_auth", __name__)

#: Every method a proxied request may have: auth_request sends the original one.
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@bp.route("/auth/verify", methods=ANY_METHOD, provide_automatic_options=False)
def verify() -> Response:
    """`?room=` limits it to one room (without it: any room's token, unless
    `verify_any_room = false`); `?cookie=` names a token cookie."""
    svc = services()
    room = request.args.get("room")
    if not room and not svc.config.verify_any_room:
        raise ApiError(400, "invalid_request", "Name the room this gate protects: ?room=NAME.")
    gate = svc.authorizer(validate.known_room(room) if room else None)
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
