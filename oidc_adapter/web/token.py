"""POST /token: the code exchange (see oidc.code_exchange)."""

from __future__ import annotations

from authlib.common.security import is_secure_transport
from flask import Blueprint, Response, jsonify, request

from ..oidc.code_exchange import TokenError
from ..services import services
from .responses import json_error, no_store

bp = Blueprint("token", __name__)

TOKEN_PARAMS = ("grant_type", "code", "redirect_uri", "code_verifier", "client_id", "client_secret")
CHALLENGE = 'Basic realm="token", error="invalid_client"'


@bp.post("/token")
def token() -> Response:
    form = request.form
    repeated = next((n for n in TOKEN_PARAMS if len(form.getlist(n)) > 1), None)
    if repeated:
        return json_error(400, "invalid_request", f"'{repeated}' is repeated.")
    if request.scheme != "https" and not is_secure_transport(request.url):
        # Plain http reached us for an https issuer: a proxy not in trusted_proxies.
        # (Loopback http stays allowed, for development and the tests.)
        return json_error(400, "invalid_request", "Token requests must use https.")
    provider = services().provider
    try:
        client = provider.exchange.authenticate(form, request.headers.get("Authorization"))
        code, view = provider.exchange.redeem(client, form)
    except TokenError as exc:
        challenge = {"WWW-Authenticate": CHALLENGE} if exc.status == 401 else None
        return json_error(exc.status, exc.error, exc.description, challenge)
    return no_store(jsonify(provider.token_response(client, code, view)))
