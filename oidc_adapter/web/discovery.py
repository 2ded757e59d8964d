"""OpenID Provider discovery (OIDC Discovery 1.0) and the published keys."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from ..services import services

bp = Blueprint("discovery", __name__)

CLAIMS = ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "room", "sid"]


@bp.get("/.well-known/openid-configuration")
def discovery() -> Response:
    svc = services()
    issuer = svc.config.issuer
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
            # The algorithms in use, each with an active key: RS256 always (Discovery §3),
            # ES256 when the access tokens or a client's ID tokens use it.
            "id_token_signing_alg_values_supported": list(svc.provider.tokens.keys.algs),
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid"],  # no profile claim exists to promise
            "claims_supported": CLAIMS,
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
    response = jsonify(services().provider.tokens.keys.public_jwks())
    # Short, so a rotation's new key is seen quickly by caches in front of us.
    response.headers["Cache-Control"] = "public, max-age=60"
    return response
