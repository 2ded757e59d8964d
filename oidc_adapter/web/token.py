"""POST /token: the code exchange, run by Authlib's grant (see oidc.provider)."""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import InsecureTransportError
from flask import Blueprint, Response, request

from ..services import services
from .responses import json_error, no_store

bp = Blueprint("token", __name__)

TOKEN_PARAMS = ("grant_type", "code", "redirect_uri", "code_verifier", "client_id", "client_secret")
CHALLENGE = 'Basic realm="token", error="invalid_client"'


@bp.post("/token")
def token() -> Response:
    repeated = next((n for n in TOKEN_PARAMS if len(request.form.getlist(n)) > 1), None)
    if repeated:
        return json_error(400, "invalid_request", f"'{repeated}' is repeated.")
    try:
        response = no_store(services().provider.create_token_response())
    except InsecureTransportError:
        # Plain http reached us for an https issuer: a proxy not in trusted_proxies.
        return json_error(400, "invalid_request", "Token requests must use https.")
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = CHALLENGE
    return response
