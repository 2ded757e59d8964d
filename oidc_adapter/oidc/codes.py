"""Authorization codes in Redis: short-lived, single use, replay-detecting.

A code is stored under the SHA-256 of its value, so a Redis dump never holds
a redeemable code. Redeeming is one script that deletes the code and sets a
redeemed marker together, so two concurrent exchanges can never both succeed
and the loser always finds the marker: the session the code started is then
revoked, whichever request won (RFC 6749 §4.1.2, RFC 9700 §4.5); the same
script answers with the marker, so a replay costs no second round trip. An
exchange that fails before issuing tokens removes its marker again.
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
    #: /token must send the same one (RFC 6749 §4.1.3).
    redirect_uri: str
    scope: str
    nonce: str | None = None
    #: The served ticket whose admitted session the exchange starts.
    room: str
    ticket: str
    auth_time: int
    code_challenge: str | None = None
    code_challenge_method: str | None = None


@dataclass(frozen=True)
class Replay:
    """A code presented again after it was redeemed: the session it started."""

    room: str
    ticket: str


def _keys(code: str) -> list[str]:
    """The code's key and its redemption marker's: one hash tag, one cluster slot."""
    digest = hashlib.sha256(code.encode()).hexdigest()
    return [f"wr:code:{{{digest}}}", f"wr:code-redeemed:{{{digest}}}"]


class CodeStore:
    """Issued authorization codes, keyed by their hash; see the module docstring."""

    def __init__(self, client: redis.Redis):
        self.client = client
        self._redeem = client.register_script(
            (resources.files(__package__) / "lua" / "redeem_code.lua").read_text()
        )

    def save(self, code: str, data: AuthorizationCode) -> None:
        self.client.set(_keys(code)[0], json.dumps(asdict(data)), ex=CODE_TTL_SECONDS)

    def redeem(self, code: str, client_id: str) -> AuthorizationCode | Replay | None:
        """Consume the code if it is this client's; a Replay if it was redeemed
        before; None if unknown or expired.

        Another client presenting it leaves it in place, so a leaked code
        cannot be burnt by a different registered client.
        """
        reply = self._redeem(keys=_keys(code), args=[client_id, REDEEMED_TTL_SECONDS])
        if reply is None:
            return None
        redeemed, raw = reply
        data = json.loads(raw)
        return AuthorizationCode(**data) if redeemed else Replay(data["room"], data["ticket"])

    def forget_redemption(self, code: str) -> None:
        """An exchange that failed (wrong verifier, turn over) issued nothing: a
        retry of its code is a mistake to refuse, not a replay to punish."""
        self.client.delete(_keys(code)[1])
