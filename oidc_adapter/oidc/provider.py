"""The OpenID provider: Authlib's authorization server for /token, wired to
our clients, codes and tokens, and the code a served login gets."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidClientError, InvalidRequestError

from ..authorizer import api_audience
from ..config import Config
from ..room.engine import RoomEngine
from ..room.results import TicketView
from .authorization_request import AuthorizationError, AuthorizationRequest
from .client_auth import ClientAuthError, authenticate_client
from .clients import Client
from .codes import CODE_BYTES, AuthorizationCode, CodeStore
from .grants import CodeGrant, OpenIDExtension, Pkce, TicketUser
from .tokens import TokenIssuer, subject_for


class Provider(AuthorizationServer):
    """The registered clients, the code store and the token issuer of one app.

    /authorize is answered by our own steps (the login waits in line between
    the check and the code); Authlib runs the token exchange, with our client
    authentication and our token response.
    """

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
        self.register_token_generator("default", self._generate_token)

    def subject(self, view: TicketView) -> str:
        return subject_for(self._secret(), view.room.name, view.ticket)

    def room_token(self, view: TicketView) -> dict[str, Any]:
        """The access token of an admitted session outside OIDC (the direct API, the
        redirect integration's handoff): audience the room's API, no client."""
        assert view.session_expires_ms is not None
        room = view.room.name
        audience = api_audience(self.config.issuer, room)
        token = self.tokens.bearer_response(
            view,
            sub=self.subject(view),
            audience=audience,
            client_id=f"room:{room}",
            scope="",
            auth_time=view.changed_s,
        )
        return {
            **token,
            "expires_at": view.session_expires_ms // 1000,
            "room": room,
            "session": view.ticket,
            "audience": audience,
        }

    def issue_code(self, request: AuthorizationRequest, view: TicketView, auth_time: int) -> str:
        """The redirect that answers a served login: a single-use code, `state`
        and `iss` (RFC 9207)."""
        code = secrets.token_urlsafe(CODE_BYTES)
        self.codes.save(
            code,
            AuthorizationCode(
                client_id=request.client.get_client_id(),
                redirect_uri=request.redirect_uri,
                scope=request.scope,
                room=view.room.name,
                ticket=view.ticket,
                auth_time=auth_time,
                nonce=request.nonce,
                code_challenge=request.code_challenge,
                code_challenge_method=request.code_challenge_method,
            ),
        )
        return self._redirect(request.redirect_uri, [("code", code)], request.state)

    def error_redirect(self, error: AuthorizationError) -> str:
        assert error.redirect_uri is not None
        params = [("error", error.error), ("error_description", error.description)]
        return self._redirect(error.redirect_uri, params, error.state)

    def _redirect(self, uri: str, params: list[tuple[str, str]], state: str | None) -> str:
        if state:
            params.append(("state", state))
        params.append(("iss", self.config.issuer))
        return add_params_to_uri(uri, params)

    def handle_error_response(self, request: Any, error: Any) -> Any:
        """A token request that redeemed its code but failed issued nothing."""
        code = getattr(request, "redeemed_code", None)
        if code is not None:
            self.codes.forget_redemption(code)
        return super().handle_error_response(request, error)

    def authenticate_client(self, request: Any, methods: Any, endpoint: str = "token") -> Client:
        """Authlib's hook, answered by the one client-authentication rule."""
        try:
            client, method = authenticate_client(
                self.clients, request.headers.get("Authorization"), request.form
            )
        except ClientAuthError as exc:
            if exc.status == 400:
                raise InvalidRequestError(exc.description) from None
            raise InvalidClientError(status_code=401, description=exc.description) from None
        request.auth_method = method
        return client

    def _generate_token(
        self, client: Client, user: TicketUser, scope: str | None = None, **_: Any
    ) -> dict[str, Any]:
        """An RFC 9068 access token living exactly as long as the admitted session
        (so Authlib's expires_in is not ours to choose, and there is no refresh token)."""
        token = self.tokens.bearer_response(
            user.view,
            sub=user.sub,
            audience=client.get_client_id(),
            client_id=client.get_client_id(),
            scope=scope or "",
            auth_time=user.auth_time,
        )
        return {**token, "scope": scope or ""}
