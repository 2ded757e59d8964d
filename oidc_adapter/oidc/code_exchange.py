"""The token side of the authorization-code grant: /token's one strict pass
(RFC 6749 §4.1.3, OpenID Core §3.1.3.1, PKCE RFC 7636 §4.6).

It applies the rules Authlib's grant applied, in the same order, but
without its generic server: that rebuilt a request wrapper and ran a hook
chain on every login for the one grant we serve. Every check that can fail
without touching the code runs before it is redeemed, so a request refused
there leaves the code usable. Redis sees two round trips per exchange:
redeeming the code (which also reports a replay) and claiming the session.

The "user" of a login is the served ticket: exchanging its code claims the
ticket's admitted session, which from then on counts against max_active.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from ..room.engine import RoomEngine, RoomError
from ..room.results import TicketView
from ..room.states import ADMITTED, REVOKED
from .client_auth import ClientAuthError, authenticate_client
from .clients import Client
from .codes import AuthorizationCode, CodeStore, Replay

GRANT_TYPE = "authorization_code"
#: RFC 7636 §4.1: 43 to 128 characters of the unreserved set.
CODE_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


class TokenError(Exception):
    """A refused token request: RFC 6749 §5.2 `error`, its description and status."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def check_pkce(code: AuthorizationCode, verifier: str | None) -> None:
    """A code issued with a challenge needs its verifier; one without needs none.

    /authorize accepts only S256 challenges, so every stored one is S256.
    """
    if not code.code_challenge and not verifier:
        return
    if not verifier:
        raise TokenError("invalid_request", "Missing 'code_verifier'.")
    if not CODE_VERIFIER.match(verifier):
        raise TokenError("invalid_request", "Invalid 'code_verifier'.")
    expected = code.code_challenge or ""
    if not hmac.compare_digest(_s256(verifier).encode(), expected.encode()):
        raise TokenError("invalid_grant", "Code challenge failed.")


class CodeExchange:
    """Trades a code for the session it stands for; see the module docstring."""

    def __init__(self, clients: Mapping[str, Client], codes: CodeStore, engine: RoomEngine):
        self.clients = clients
        self.codes = codes
        self.engine = engine

    def authenticate(self, form: Mapping[str, Any], authorization: str | None) -> Client:
        """The grant type and the client: nothing stored is touched yet."""
        grant_type = form.get("grant_type")
        if grant_type != GRANT_TYPE:
            what = "Missing 'grant_type'." if grant_type is None else "Unsupported 'grant_type'."
            raise TokenError("unsupported_grant_type", what)
        try:
            client, _ = authenticate_client(self.clients, authorization, form)
        except ClientAuthError as exc:
            raise TokenError(exc.error, exc.description, exc.status) from None
        return client

    def redeem(
        self, client: Client, form: Mapping[str, Any]
    ) -> tuple[AuthorizationCode, TicketView]:
        """The code's data and its admitted session, or TokenError. A code that was
        redeemed before ends the session it started (it may have leaked)."""
        value = form.get("code")
        if not value:
            raise TokenError("invalid_request", "Missing 'code'.")
        redeemed = self.codes.redeem(value, client.get_client_id())
        if isinstance(redeemed, Replay):
            try:
                self.engine.finish(redeemed.room, redeemed.ticket, REVOKED)
            except RoomError:
                pass
        if not isinstance(redeemed, AuthorizationCode):
            raise TokenError("invalid_grant", "Invalid 'code' in request.")
        try:
            if form.get("redirect_uri") != redeemed.redirect_uri:
                raise TokenError("invalid_grant", "Invalid 'redirect_uri' in request.")
            check_pkce(redeemed, form.get("code_verifier"))
            return redeemed, self._claim(redeemed)
        except TokenError:
            # Nothing was issued: a retry of this code is a mistake, not a replay.
            self.codes.forget_redemption(value)
            raise

    def _claim(self, code: AuthorizationCode) -> TicketView:
        """Start the admitted session; a turn that expired or was revoked gets no tokens."""
        try:
            view = self.engine.claim(code.room, code.ticket)
        except RoomError:
            view = None
        if view is None or view.state != ADMITTED:
            raise TokenError("invalid_grant", "The turn for this code is over.")
        return view
