"""Authorization codes in Redis: short-lived, single use, replay-detecting.

A code is stored under the SHA-256 of its value, so a Redis dump never holds
a redeemable code. Redeeming is one GETDEL, so two concurrent exchanges can
never both succeed; the redeemed marker outlives the code so a replay is
recognised and the session it started can be revoked (RFC 6749 §4.1.2).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from importlib import resources

import redis

CODE_BYTES = 32  # 256 bits
CODE_TTL_SECONDS = 60
REDEEMED_TTL_SECONDS = 24 * 3600


@dataclass(kw_only=True)
class AuthorizationCode:
    """What a code stands for until /token redeems it."""

    client_id: str
    #: As /authorize got it: empty when omitted, so /token need not repeat it.
    redirect_uri: str
    scope: str
    nonce: str | None = None
    #: The served ticket whose admitted session the exchange starts.
    room: str
    ticket: str
    auth_time: int
    code_challenge: str | None = None
    code_challenge_method: str | None = None

    # Authlib's AuthorizationCodeMixin / OpenID accessors
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


def _key(code: str) -> str:
    return "wr:code:" + hashlib.sha256(code.encode()).hexdigest()


def _redeemed_key(code: str) -> str:
    return "wr:code-redeemed:" + hashlib.sha256(code.encode()).hexdigest()


class CodeStore:
    """Issued authorization codes, keyed by their hash; see the module docstring."""

    def __init__(self, client: redis.Redis):
        self.client = client
        self._redeem = client.register_script(
            (resources.files(__package__) / "lua" / "redeem_code.lua").read_text()
        )

    def save(self, code: str, data: AuthorizationCode) -> None:
        self.client.set(_key(code), json.dumps(asdict(data)), ex=CODE_TTL_SECONDS)

    def redeem(self, code: str, client_id: str) -> AuthorizationCode | None:
        """Consume the code if it is this client's; None if unknown, expired or used.

        Another client presenting it leaves it in place, so a leaked code
        cannot be burnt by a different registered client.
        """
        raw = self._redeem(keys=[_key(code)], args=[client_id])
        return None if raw is None else AuthorizationCode(**json.loads(raw))

    def mark_exchanged(self, code: str, data: AuthorizationCode) -> None:
        """Remember a code that produced tokens, so a replay can revoke them."""
        self.client.set(
            _redeemed_key(code),
            json.dumps({"room": data.room, "ticket": data.ticket}),
            ex=REDEEMED_TTL_SECONDS,
        )

    def replayed(self, code: str) -> tuple[str, str] | None:
        """(room, ticket) of a code that was already redeemed, for revocation."""
        raw = self.client.get(_redeemed_key(code))
        if raw is None:
            return None
        data = json.loads(raw)
        return data["room"], data["ticket"]
