"""Checking a waiting-room access token (RFC 9068 JWT) on the protected side."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import jwt

from .key_sources import ALGORITHMS, JwksKeys, KeySource, KeysUnavailable, UnknownKey

log = logging.getLogger(__name__)

ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")
#: RFC 9068 §2.2 claims, plus the room and its session.
REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "room", "sid"]
DEFAULT_LEEWAY_SECONDS = 10
MAX_TOKEN_LENGTH = 8192
_SID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def api_audience(issuer: str, room: str) -> str:
    """The audience of tokens from the direct API: one per room, under the issuer."""
    return f"{issuer.rstrip('/')}/api/rooms/{room}"


#: How long a client should wait after a store or key source was unreachable.
RETRY_AFTER_SECONDS = 5


class Denied(Exception):
    """The request may not pass. `error` is the RFC 6750 code (None: no token at all)."""

    status = 401

    def __init__(
        self, description: str, error: str | None = "invalid_token", status: int | None = None
    ):
        super().__init__(description)
        self.description = description
        self.error = error
        if status is not None:
            self.status = status


class Unavailable(Denied):
    """The token could not be checked (keys or revocation store unreachable)."""

    status = 503

    def __init__(self, description: str):
        super().__init__(description, error="temporarily_unavailable")


def _unverified_header(token: str, name: str = "access token") -> dict[str, Any]:
    """Only to pick the algorithm and key; jwt.decode then checks the whole token
    strictly. (jwt.get_unverified_header would parse every segment twice over.)
    Anyone can send this, so a header nested too deep to parse (3,000 `[`)
    is as malformed as one that is not JSON at all."""
    head, dot, _ = token.partition(".")
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, binascii.Error, RecursionError) as exc:
        raise Denied(f"The {name} is malformed.") from exc
    if not dot or not isinstance(header, dict):
        raise Denied(f"The {name} is malformed.")
    return header


@dataclass(frozen=True)
class TokenKind:
    """One kind of token we sign: its `typ` header values and required claims.

    Each kind has a `typ` of its own, checked before the signature, so a
    token of one kind never passes where another is expected. `leeway`
    None means the authorizer's own.
    """

    name: str
    types: tuple[str, ...]
    required: tuple[str, ...]
    leeway: float | None = None


ACCESS_TOKEN = TokenKind("access token", ACCESS_TOKEN_TYPES, tuple(REQUIRED_CLAIMS))


class SessionStateUnavailable(Exception):
    """The session store could not answer (raised by SessionState implementations)."""


class SessionState(Protocol):
    def is_admitted(self, room: str, session: str) -> bool: ...


@dataclass(frozen=True)
class Identity:
    """Who passed: the waiting room's pairwise subject and their admitted session."""

    subject: str
    room: str
    session: str
    expires_at: int
    client_id: str
    scope: str
    claims: dict[str, Any] = field(repr=False, compare=False)


class Authorizer:
    """Verifies access tokens of one waiting room.

    `audience` defaults to the direct-API audience of each room in `rooms`;
    tokens from the OIDC flow carry the RP's client id instead, so list it
    too if those tokens should pass. `rooms` None accepts any room. With
    `sessions`, a token whose session ended early (or was revoked) is refused
    even before it expires; `fail_open` lets requests pass when that store is
    unreachable instead of refusing them.
    """

    def __init__(
        self,
        issuer: str,
        audience: str | Iterable[str] | None = None,
        *,
        rooms: Iterable[str] | None = None,
        keys: KeySource | None = None,
        jwks_url: str | None = None,
        sessions: SessionState | None = None,
        fail_open: bool = False,
        leeway: float = DEFAULT_LEEWAY_SECONDS,
        algorithms: Iterable[str] = ALGORITHMS,
    ):
        self.issuer = issuer.rstrip("/")
        self.rooms = frozenset(rooms) if rooms is not None else None
        if audience is None:
            if not self.rooms:
                raise ValueError("give an audience, or the rooms whose API audience to accept")
            audience = [api_audience(self.issuer, room) for room in sorted(self.rooms)]
        self.audience = [audience] if isinstance(audience, str) else list(audience)
        if not self.audience:
            raise ValueError("at least one audience is required")
        self.algorithms = tuple(algorithms)
        if not set(self.algorithms) <= set(ALGORITHMS):
            raise ValueError(f"only {', '.join(ALGORITHMS)} are supported")
        self.keys = keys or JwksKeys(
            jwks_url or f"{self.issuer}/.well-known/jwks.json", algorithms=self.algorithms
        )
        self.sessions = sessions
        self.fail_open = fail_open
        self.leeway = leeway

    def verify(self, token: str | None) -> Identity:
        """The identity in `token`, or Denied saying why not."""
        if not token:
            raise Denied("An access token is required.", error=None)
        if len(token) > MAX_TOKEN_LENGTH:
            raise Denied("The access token is too long.")
        claims = self.signed_claims(token, ACCESS_TOKEN, self.audience)
        room, session = claims["room"], claims["sid"]
        if not isinstance(room, str) or not isinstance(session, str) or not _SID.match(session):
            raise Denied("The access token's room claims are malformed.")
        if self.rooms is not None and room not in self.rooms:
            raise Denied("The access token is for another room.")
        if self.sessions is not None and not self._admitted(room, session):
            raise Denied("The session has ended.")
        return Identity(
            subject=str(claims["sub"]),
            room=room,
            session=session,
            expires_at=int(claims["exp"]),
            client_id=str(claims["client_id"]),
            scope=str(claims.get("scope", "")),
            claims=claims,
        )

    def signed_claims(
        self, token: str, kind: TokenKind, audience: list[str] | None
    ) -> dict[str, Any]:
        """The claims of a `kind` token signed by the issuer: signature, `typ`,
        `iss`, `exp`/`nbf` and the required claims checked, and `aud` unless
        `audience` is None (the caller then checks it). Denied otherwise."""
        header = _unverified_header(token, kind.name)
        alg = header.get("alg")
        # Checked before any key is touched: "none", HS256 and friends never
        # reach a verifier, whatever key the kid points at.
        if alg not in self.algorithms:
            raise Denied(f"The {kind.name}'s algorithm is not accepted.")
        if str(header.get("typ", "")).lower() not in kind.types:
            raise Denied(f"Not {_a(kind.name)} (typ must be {kind.types[0]}).")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Denied(f"The {kind.name} names no key.")
        try:
            key = self.keys.get(kid)
        except UnknownKey as exc:
            raise Denied(f"The {kind.name} is signed with an unknown key.") from exc
        except KeysUnavailable as exc:
            log.warning("cannot verify tokens: %s", exc)
            raise Unavailable("The issuer's keys are unavailable.") from exc
        if key.algorithm_name != alg:
            raise Denied(f"The {kind.name}'s algorithm does not match its key.")
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=audience,
                issuer=self.issuer,
                leeway=self.leeway if kind.leeway is None else kind.leeway,
                options={"require": list(kind.required), "verify_aud": audience is not None},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Denied(f"The {kind.name} has expired.") from exc
        except jwt.InvalidAudienceError as exc:
            raise Denied(f"The {kind.name} is for another audience.") from exc
        except jwt.InvalidIssuerError as exc:
            raise Denied(f"The {kind.name} is from another issuer.") from exc
        except jwt.InvalidTokenError as exc:
            raise Denied(f"The {kind.name} is invalid: {exc}.") from exc

    def _admitted(self, room: str, session: str) -> bool:
        assert self.sessions is not None
        try:
            return self.sessions.is_admitted(room, session)
        except SessionStateUnavailable as exc:
            if self.fail_open:
                log.warning("session check failed, letting the request pass: %s", exc)
                return True
            log.warning("session check failed, refusing the request: %s", exc)
            raise Unavailable("The session store is unavailable.") from exc


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun
