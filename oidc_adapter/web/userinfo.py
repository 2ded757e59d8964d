"""GET|POST /userinfo: a tiny claim set (ALB forwards `sub` as x-amzn-oidc-identity)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from ..authorizer import Denied
from ..authorizer.wsgi import denial
from ..services import services
from .responses import no_store

bp = Blueprint("userinfo", __name__)


def _bearer(exc: Denied) -> Response:
    status, headers, body = denial(exc, realm="userinfo")
    return Response(body, status, headers)


def _token() -> str:
    """The access token from the header or (POST) the form body, never the URL."""
    scheme, _, header_token = request.headers.get("Authorization", "").partition(" ")
    form_token = request.form.get("access_token") if request.method == "POST" else None
    if len(request.form.getlist("access_token")) > 1:
        raise Denied("Send the token only once.", "invalid_request", status=400)
    if request.args.get("access_token"):
        raise Denied("Tokens in the URL are not accepted.", "invalid_request", status=400)
    if scheme and scheme.lower() != "bearer":
        raise Denied("Use a Bearer access token.")
    if header_token.strip() and form_token:
        raise Denied("Send the token only once.", "invalid_request", status=400)
    bearer = header_token.strip() or form_token
    if not bearer:
        raise Denied("An access token is required.", error=None)
    return bearer


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    try:
        identity = services().authorizer().verify(_token())
    except Denied as exc:
        return _bearer(exc)
    return no_store(jsonify(sub=identity.subject, room=identity.room))
