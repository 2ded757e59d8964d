"""Proof of work at the door: a new visitor spends CPU before its ticket is taken.

A challenge is `v1.<room>.<expires>.<bits>.<nonce>.<mac>`: signed with the
instance secret, so issuing one writes nothing to Redis and a flood of
challenge requests costs us no memory. The solution is a decimal counter such
that SHA-256(challenge || counter) starts with `bits` zero bits: one hash to
check, whatever the difficulty. A solution is single use: spending it is a
Redis `SET NX` of the challenge's nonce, with the challenge's remaining life
as expiry, so the marker vanishes exactly when the challenge could no longer
be replayed anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import redis

#: Long enough for the slowest honest browser at the highest difficulty we
#: measured, short enough that a hoard of solved challenges goes stale.
CHALLENGE_SECONDS = 300
NONCE_BYTES = 16
MAX_CHALLENGE_LENGTH = 256
MAX_COUNTER_DIGITS = 20
VERSION = "v1"


@dataclass(frozen=True)
class Challenge:
    text: str
    room: str
    expires: int
    bits: int
    nonce: str


def _mac(secret: str, body: str) -> str:
    digest = hmac.new(secret.encode(), f"pow:{body}".encode(), hashlib.sha256).hexdigest()
    return digest[:32]


def new_challenge(secret: str, room: str, bits: int, now: int) -> str:
    body = f"{VERSION}.{room}.{now + CHALLENGE_SECONDS}.{bits}.{secrets.token_hex(NONCE_BYTES)}"
    return f"{body}.{_mac(secret, body)}"


def parse_challenge(secret: str, room: str, text: object, now: int) -> Challenge | None:
    """The challenge if we signed it for this room and it has not expired."""
    if not isinstance(text, str) or not text.isascii() or len(text) > MAX_CHALLENGE_LENGTH:
        return None
    body, _, mac = text.rpartition(".")
    parts = body.split(".")
    if len(parts) != 5 or not hmac.compare_digest(_mac(secret, body), mac):
        return None
    version, signed_room, expires, bits, nonce = parts
    if version != VERSION or signed_room != room or int(expires) <= now:
        return None
    return Challenge(text, room, int(expires), int(bits), nonce)


def solves(challenge: str, counter: object, bits: int) -> bool:
    """One SHA-256, whatever the difficulty."""
    if isinstance(counter, int) and not isinstance(counter, bool):
        counter = str(counter)
    if not isinstance(counter, str) or not counter.isdigit() or len(counter) > MAX_COUNTER_DIGITS:
        return False
    digest = hashlib.sha256(f"{challenge}{counter}".encode()).digest()
    return int.from_bytes(digest, "big") >> (256 - bits) == 0 if bits else True


def spend(client: redis.Redis, challenge: Challenge, now: int) -> bool:
    """True for the first use of a solved challenge, False for every replay."""
    key = f"wr:{{{challenge.room}}}:pow:{challenge.nonce}"
    return bool(client.set(key, 1, nx=True, ex=max(1, challenge.expires - now)))
