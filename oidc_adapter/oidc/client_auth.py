"""Client authentication (RFC 6749 §2.3.1): client_secret_basic or
client_secret_post, one of them per request. /token and
the sessions API both use this, so a client authenticates the same way
everywhere."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from authlib.oauth2.rfc6749.util import extract_basic_authorization

from .clients import Client

BASIC = "client_secret_basic"
POST = "client_secret_post"


class ClientAuthError(Exception):
    def __init__(self, status: int, error: str, description: str):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def authenticate_client(
    clients: Mapping[str, Client], authorization: str | None, params: Mapping[str, Any]
) -> tuple[Client, str]:
    """The client and the method it used; ClientAuthError (400 or 401) otherwise."""
    try:
        basic_id, basic_secret = extract_basic_authorization(
            {"Authorization": authorization} if authorization else {}
        )
    except ValueError:  # credentials that are not UTF-8
        raise ClientAuthError(
            401, "invalid_client", "The client credentials are malformed."
        ) from None
    if basic_id and ("client_secret" in params or params.get("client_id", basic_id) != basic_id):
        raise ClientAuthError(
            400, "invalid_request", "Use one client authentication method per request."
        )
    if basic_id:
        client_id, secret, method = basic_id, basic_secret, BASIC
    else:
        client_id, secret, method = params.get("client_id"), params.get("client_secret"), POST
    client = clients.get(client_id) if isinstance(client_id, str) else None
    if client is None or not isinstance(secret, str) or not client.check_client_secret(secret):
        raise ClientAuthError(401, "invalid_client", "Client authentication failed.")
    return client, method
