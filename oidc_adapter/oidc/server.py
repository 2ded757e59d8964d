"""The Authlib authorization server, wired to our clients, codes and tokens."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.hooks import hooked
from flask import Response

from ..config import Config
from ..room.engine import RoomEngine
from ..room.views import TicketView
from .clients import Client
from .codes import CodeStore
from .grants import CodeGrant, Issuer, OpenIDExtension, Pkce, TicketUser
from .tokens import TokenIssuer, subject_for


class Provider(AuthorizationServer):
    def __init__(
        self,
        config: Config,
        engine: RoomEngine,
        codes: CodeStore,
        tokens: TokenIssuer,
        secret: Callable[[], str],
    ):
        self.config = config
        self.engine = engine
        self.codes = codes
        self.tokens = tokens
        self._secret = secret
        self.clients = {cid: Client(c) for cid, c in config.clients.items()}
        super().__init__(query_client=self.clients.get, save_token=lambda token, request: None)
        self.register_grant(CodeGrant, [OpenIDExtension(self), Pkce(required=False)])
        self.register_extension(Issuer(config.issuer))
        self.register_token_generator("default", self._generate_token)

    @hooked(
        before="before_create_authorization_response",
        after="after_create_authorization_response",
    )
    def issue_code(self, grant: Any, user: TicketUser) -> Response:
        """The code for a request get_consent_grant validated moments ago.

        Authlib's create_authorization_response would validate it all over
        again; the hooks (RFC 9207 `iss`) run the same way.
        """
        try:
            return self.handle_response(
                *grant.create_authorization_response(grant.redirect_uri, user)
            )
        except OAuth2Error as error:
            error.state = grant.request.payload.state
            return self.handle_error_response(grant.request, error)

    def subject(self, view: TicketView) -> str:
        return subject_for(self._secret(), view.room.name, view.ticket)

    def _generate_token(
        self,
        grant_type: str,
        client: Client,
        user: TicketUser | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        """A JWT access token (RFC 9068) living exactly as long as the admitted session."""
        assert user is not None and user.view.session_expires_ms is not None
        expires_at = user.view.session_expires_ms // 1000
        token = self.tokens.access_token(
            sub=user.sub,
            audience=client.get_client_id(),
            client_id=client.get_client_id(),
            room=user.view.room.name,
            session=user.view.ticket,
            scope=scope or "",
            expires_at=expires_at,
            auth_time=user.auth_time,
        )
        return {
            "token_type": "Bearer",
            "access_token": token,
            "expires_in": max(1, expires_at - int(time.time())),
            "scope": scope or "",
        }
