"""The token side of Authlib's authorization-code grant, with its OpenID and
PKCE extensions, bound to the room engine and Redis. (The authorization side
is `authorization_request.py` plus `Provider.issue_code`.)

The "user" of a login is the served ticket: exchanging its code claims the
ticket's admitted session, which from then on counts against max_active.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core.grants import OpenIDCode

from ..room.engine import RoomError
from ..room.results import TicketView
from ..room.states import ADMITTED, REVOKED
from .client_auth import BASIC, POST
from .codes import AuthorizationCode


@dataclass
class TicketUser:
    """A served (or admitted) ticket standing in for the resource owner."""

    view: TicketView
    sub: str
    auth_time: int

    def get_user_id(self) -> str:
        return self.sub


class CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [BASIC, POST]

    def query_authorization_code(self, code: str, client: Any) -> AuthorizationCode | None:
        data = self.server.codes.redeem(code, client.get_client_id())
        if data is None:
            replay = self.server.codes.replayed(code)
            if replay is not None:
                # A code used twice may have leaked: end the session it started.
                room, ticket = replay
                try:
                    self.server.engine.finish(room, ticket, REVOKED)
                except RoomError:
                    pass
            return None
        self.request.redeemed_code = code  # see Provider.handle_error_response
        return data

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Nothing to do: redeeming already deleted it atomically."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> TicketUser | None:
        """Start the admitted session; a turn that expired or was revoked gets no tokens."""
        try:
            view = self.server.engine.claim(authorization_code.room, authorization_code.ticket)
        except RoomError:
            return None
        if view.state != ADMITTED:
            return None
        return TicketUser(view, self.server.subject(view), authorization_code.auth_time)


class Pkce(CodeChallenge):
    """The code_verifier check at /token; challenges are checked (S256 only, and
    `require_pkce` per client) with the authorization request."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"


class OpenIDExtension(OpenIDCode):
    """ID tokens signed by our key store with the client's algorithm, expiring with the
    admitted session."""

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
        client = grant.request.client
        token["id_token"] = self.server.tokens.id_token(
            sub=user.sub,
            client_id=client.get_client_id(),
            room=code.room,
            expires_at=user.view.session_expires_ms // 1000,
            auth_time=code.auth_time,
            nonce=code.nonce,
            access_token=token["access_token"],
            session=code.ticket,
            alg=client.settings.id_token_signed_response_alg,
        )
        return token
