"""The instance secret: cookie signing and ticket proofs.

Every worker and host must share it, so unless the operator sets one it is
generated once and kept in Redis (persisted with the queue it protects).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import redis

REDIS_KEY_NAME = "wr:secret"


class InstanceSecret:
    """The configured secret, or the shared one in Redis, fetched on first use
    so the app can start while Redis is still coming up."""

    def __init__(self, client: redis.Redis, configured: str | None):
        self._client = client
        self._value = configured or None

    def __call__(self) -> str:
        if self._value is None:
            self._client.set(REDIS_KEY_NAME, secrets.token_urlsafe(48), nx=True)
            self._value = self._client.get(REDIS_KEY_NAME)
        return self._value


def ticket_proof(secret: str, room: str, ticket: str) -> str:
    """The ticket secret only its taker holds; derived, so nothing is stored."""
    mac = hmac.new(secret.encode(), f"ticket:{room}:{ticket}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:18]).decode()


def check_ticket_proof(secret: str, room: str, ticket: str, proof: str) -> bool:
    # compare_digest refuses (TypeError) non-ASCII strings; a proof never is one.
    return proof.isascii() and hmac.compare_digest(ticket_proof(secret, room, ticket), proof)
