"""Signing ID tokens and RFC 9068 JWT access tokens.

Both the OIDC /token endpoint and the direct API token endpoint issue access
tokens here, so a protected API sees one format whichever way a user came in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any

from ..authorizer import HANDOFF_TOKEN_TYPE
from ..keys import KeyStore
from ..room.results import TicketView

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 (a JWT type, not a secret)
#: Long enough for one redirect and one server-to-server call, no longer:
#: the token travels in a URL (see docs/integrations.md, "Redirect integration").
HANDOFF_LIFETIME_SECONDS = 10


def subject_for(secret: str, room: str, ticket: str) -> str:
    """A pairwise-free but unlinkable subject: stable for one ticket, reveals nothing."""
    mac = hmac.new(secret.encode(), f"sub:{room}:{ticket}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:18]).decode()


def half_hash(value: str) -> str:
    """at_hash: left half of the SHA-256 digest (RS256 and ES256 both use SHA-256)."""
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


class TokenIssuer:
    """Signs what we issue with an active key of the key store (its `kid` in every header).

    Access tokens always use the store's default algorithm (the config's
    signing_alg): the authorizer and the APIs behind it verify them, and one
    algorithm there is one fewer thing to configure. ID tokens use the
    algorithm their client registered, which is what its RP checks.
    """

    def __init__(self, issuer: str, keys: KeyStore):
        self.issuer = issuer
        self.keys = keys

    def _sign(self, claims: dict[str, Any], typ: str, alg: str | None = None) -> str:
        return self.keys.signer(alg).sign(claims, typ)

    def access_token(
        self,
        *,
        sub: str,
        audience: str | list[str],
        client_id: str,
        room: str,
        session: str,
        scope: str,
        expires_at: int,
        auth_time: int,
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": sub,
            "aud": audience,
            "client_id": client_id,
            "iat": now,
            "nbf": now,
            "exp": expires_at,
            "auth_time": auth_time,
            "jti": secrets.token_urlsafe(16),
            "scope": scope,
            "room": room,
            "sid": session,
        }
        return self._sign(claims, ACCESS_TOKEN_TYPE)

    def bearer_response(
        self,
        view: TicketView,
        *,
        sub: str,
        audience: str | list[str],
        client_id: str,
        scope: str,
        auth_time: int,
    ) -> dict[str, Any]:
        """The token part of a token response for an admitted session: the token
        lives exactly as long as the session, on the room's clock."""
        assert view.session_expires_ms is not None
        token = self.access_token(
            sub=sub,
            audience=audience,
            client_id=client_id,
            room=view.room.name,
            session=view.ticket,
            scope=scope,
            expires_at=view.session_expires_ms // 1000,
            auth_time=auth_time,
        )
        return {
            "token_type": "Bearer",
            "access_token": token,
            "expires_in": max(1, (view.session_expires_ms - view.room.now_ms) // 1000),
        }

    def handoff_token(
        self,
        *,
        sub: str,
        room: str,
        session: str,
        session_expires_at: int,
        return_to: str,
        audience: str,
    ) -> str:
        """The one-time pass /wait hands a served visitor back to the site with.

        It names where it may be redeemed (`aud`, the site's origin) and
        signs the exact `return_to` /wait validated, so redeeming it can only
        ever redirect there; its `jti` is redeemed once (web/handoff.py).
        """
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": audience,
            "iat": now,
            "exp": now + HANDOFF_LIFETIME_SECONDS,
            "jti": secrets.token_urlsafe(16),
            "sub": sub,
            "room": room,
            "sid": session,
            "session_exp": session_expires_at,
            "return_to": return_to,
        }
        return self._sign(claims, HANDOFF_TOKEN_TYPE)

    def id_token(
        self,
        *,
        sub: str,
        client_id: str,
        room: str,
        expires_at: int,
        auth_time: int,
        nonce: str | None,
        access_token: str,
        session: str,
        alg: str,
    ) -> str:
        """`alg` is the client's id_token_signed_response_alg."""
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": sub,
            "aud": client_id,
            "exp": expires_at,
            "iat": int(time.time()),
            "auth_time": auth_time,
            "at_hash": half_hash(access_token),
            "room": room,
            "sid": session,
        }
        if nonce:
            claims["nonce"] = nonce
        return self._sign(claims, "JWT", alg)
