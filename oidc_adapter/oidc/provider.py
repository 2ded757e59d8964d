"""The OpenID provider: our clients, codes and tokens, the code a served login
gets and the token response its exchange gets."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from authlib.common.urls import add_params_to_uri

from ..authorizer import api_audience
from ..config import Config
from ..room.engine import RoomEngine
from ..room.results import TicketView
from .authorization_request import AuthorizationError, AuthorizationRequest
from .clients import Client
from .code_exchange import CodeExchange
from .codes import CODE_BYTES, AuthorizationCode, CodeStore
from .tokens import TokenIssuer, subject_for


class Provider:
    """The registered clients, the code store and the token issuer of one app.

    /authorize is answered by our own steps (the login waits in line between
    the check and the code); /token by `CodeExchange` and `token_response`.
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
        self.exchange = CodeExchange(self.clients, codes, engine)

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

    def token_response(self, client: Client, code: AuthorizationCode, view: TicketView) -> dict:
        """What a redeemed code gets: an RFC 9068 access token living exactly as
        long as the admitted session (no refresh token), and with `openid` in
        scope an ID token signed with the client's algorithm."""
        client_id = client.get_client_id()
        sub = self.subject(view)
        token: dict[str, Any] = self.tokens.bearer_response(
            view,
            sub=sub,
            audience=client_id,
            client_id=client_id,
            scope=code.scope,
            auth_time=code.auth_time,
        )
        token["scope"] = code.scope
        if "openid" in code.scope.split():
            assert view.session_expires_ms is not None
            token["id_token"] = self.tokens.id_token(
                sub=sub,
                client_id=client_id,
                room=code.room,
                expires_at=view.session_expires_ms // 1000,
                auth_time=code.auth_time,
                nonce=code.nonce,
                access_token=token["access_token"],
                session=code.ticket,
                alg=client.settings.id_token_signed_response_alg,
            )
        return token
