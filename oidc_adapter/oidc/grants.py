"""Authlib's authorization-code grant, OpenID and PKCE extensions, bound to
the room engine and Redis.

The "user" of a login is the served ticket: exchanging its code claims the
ticket's admitted session, which from then on counts against max_active.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core.grants import OpenIDCode

from ..room.engine import RoomError
from ..room.views import TicketView
from .codes import CODE_BYTES, AuthorizationCode


@dataclass
class TicketUser:
    """A served (or admitted) ticket standing in for the resource owner."""

    view: TicketView
    sub: str
    auth_time: int

    def get_user_id(self) -> str:
        return self.sub


class CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def generate_authorization_code(self) -> str:
        return secrets.token_urlsafe(CODE_BYTES)

    def save_authorization_code(self, code: str, request: Any) -> None:
        payload = request.payload
        user: TicketUser = request.user
        self.server.codes.save(
            code,
            AuthorizationCode(
                client_id=request.client.get_client_id(),
                # Empty when /authorize omitted it: /token then need not send it
                # (RFC 6749 §4.1.3).
                redirect_uri=payload.redirect_uri or "",
                scope=request.scope or "",
                room=user.view.room.name,
                ticket=user.view.ticket,
                auth_time=user.auth_time,
                nonce=payload.data.get("nonce"),
                code_challenge=payload.data.get("code_challenge"),
                code_challenge_method=payload.data.get("code_challenge_method"),
            ),
        )

    def query_authorization_code(self, code: str, client: Any) -> AuthorizationCode | None:
        self._code = code
        data = self.server.codes.redeem(code, client.get_client_id())
        if data is None:
            replay = self.server.codes.replayed(code)
            if replay is not None:
                # A code used twice may have leaked: end the session it started.
                room, ticket = replay
                try:
                    self.server.engine.finish(room, ticket, "revoked")
                except RoomError:
                    pass
            return None
        return data

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Nothing to do: redeeming already deleted it atomically."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> TicketUser | None:
        """Start the admitted session; a turn that expired or was revoked gets no tokens."""
        try:
            view = self.server.engine.claim(authorization_code.room, authorization_code.ticket)
        except RoomError:
            return None
        if view.state != "admitted":
            return None
        self.server.codes.mark_exchanged(self._code, authorization_code)
        return TicketUser(view, self.server.subject(view), authorization_code.auth_time)


class Pkce(CodeChallenge):
    """PKCE with S256 only; `require_pkce` is per client."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        challenge = data.get("code_challenge")
        method = data.get("code_challenge_method")
        if challenge and method != "S256":
            raise InvalidRequestError("Only code_challenge_method=S256 is supported.")
        if not challenge and grant.request.client.settings.require_pkce:
            raise InvalidRequestError("This client must use PKCE (code_challenge, S256).")
        super().validate_code_challenge(grant, redirect_uri)


class OpenIDExtension(OpenIDCode):
    """ID tokens signed by our key store, expiring with the admitted session."""

    def __init__(self, server: Any):
        super().__init__(require_nonce=False)
        self.server = server

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return False

    def process_token(self, grant: Any, response: Any) -> Any:
        _, token, _ = response
        if "openid" not in (token.get("scope") or "").split():
            return token
        user: TicketUser = grant.request.user
        code: AuthorizationCode = grant.request.authorization_code
        token["id_token"] = self.server.tokens.id_token(
            sub=user.sub,
            client_id=grant.request.client.get_client_id(),
            room=code.room,
            expires_at=user.view.session_expires_ms // 1000,
            auth_time=code.auth_time,
            nonce=code.nonce,
            access_token=token["access_token"],
            session=code.ticket,
        )
        return token


class Issuer(IssuerParameter):
    def __init__(self, issuer: str):
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer
