"""Relying parties from the config."""

from __future__ import annotations

import hmac

from authlib.oauth2.rfc6749 import scope_to_list

from ..config import ClientConfig

SUPPORTED_SCOPES = ("openid", "profile")


class Client:
    """A relying party from the config and the checks made of it."""

    def __init__(self, settings: ClientConfig):
        self.settings = settings

    @property
    def room(self) -> str:
        return self.settings.room

    def get_client_id(self) -> str:
        return self.settings.client_id

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """None (invalid_scope) without `openid`: a login here is always an OIDC login,
        and a plain OAuth request would take a place in line for no ID token."""
        requested = scope_to_list(scope) if scope else []
        if "openid" not in requested:
            return None
        return " ".join(s for s in requested if s in SUPPORTED_SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Exact string match: no prefix, no normalisation (OAuth 2.0 Security BCP)."""
        return redirect_uri in self.settings.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret.encode(), self.settings.secret.encode())
