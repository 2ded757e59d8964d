"""Where the authorizer gets the waiting room's public keys.

`JwksKeys` fetches the published JWKS over HTTP. It is an equivalent of
PyJWT's `PyJWKClient` (same parsing, `PyJWKSet`/`PyJWK`, no crypto of our
own) with the behaviour a gate in front of a busy site needs and
`PyJWKClient` lacks: when the cache expires while the JWKS URL is down,
`PyJWKClient` fails every request, and it cannot share a `requests` session
(proxies, CA bundle, connection reuse) or take a test clock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import requests
from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWKError, PyJWKSetError

log = logging.getLogger(__name__)

#: The only algorithms our provider signs with; keys for anything else
#: (notably symmetric "oct" keys) are never used to verify.
ALGORITHMS = ("RS256", "ES256")


class UnknownKey(Exception):
    """The token names a kid the issuer does not publish."""


class KeysUnavailable(Exception):
    """No usable key set: the JWKS was never fetched, or is too old to trust."""


class KeySource(Protocol):
    def get(self, kid: str) -> PyJWK: ...


def parse_jwks(data: Any, algorithms: Iterable[str] = ALGORITHMS) -> dict[str, PyJWK]:
    """Signing keys by kid; keys of other algorithms or uses are dropped, not trusted."""
    if not isinstance(data, dict):
        raise ValueError("the JWKS is not a JSON object")
    try:
        keys = PyJWKSet.from_dict(data).keys
    except (PyJWKError, PyJWKSetError) as exc:
        raise ValueError(f"the JWKS has no usable keys: {exc}") from exc
    allowed = set(algorithms)
    return {
        k.key_id: k
        for k in keys
        if k.key_id and k.public_key_use in ("sig", None) and k.algorithm_name in allowed
    }


class JwksKeys:
    """A JWKS URL, cached for `lifespan` seconds.

    An unknown kid (a rotation published after our last fetch) triggers a
    refetch, but at most one fetch attempt happens per `refetch_interval`, so
    tokens with made-up kids cannot make us hammer the issuer. A failed fetch
    keeps the last good keys for up to `max_stale` seconds.
    """

    def __init__(
        self,
        url: str,
        *,
        lifespan: float = 300.0,
        refetch_interval: float = 30.0,
        max_stale: float = 86400.0,
        timeout: float = 3.0,
        session: requests.Session | None = None,
        algorithms: Iterable[str] = ALGORITHMS,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not url.startswith(("https://", "http://")):
            raise ValueError("the JWKS URL must be http(s)")
        self.url = url
        self.lifespan = lifespan
        self.refetch_interval = refetch_interval
        self.max_stale = max_stale
        self.timeout = timeout
        self.session = session or requests.Session()
        self.algorithms = tuple(algorithms)
        self._clock = clock
        self._keys: dict[str, PyJWK] | None = None
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._lock = threading.Lock()

    def get(self, kid: str) -> PyJWK:
        now = self._clock()
        if now - self._fetched_at >= self.lifespan and self._may_fetch(now):
            # Threads that still hold keys keep verifying while one refreshes.
            self._refresh(wait=self._keys is None)
        keys = self._usable_keys()
        key = keys.get(kid)
        if key is None and self._may_fetch(self._clock()):
            self._refresh(wait=True)
            key = self._usable_keys().get(kid)
        if key is None:
            raise UnknownKey(kid)
        return key

    def _may_fetch(self, now: float) -> bool:
        return now - self._attempted_at >= self.refetch_interval

    def _usable_keys(self) -> dict[str, PyJWK]:
        keys = self._keys
        if keys is None:
            raise KeysUnavailable(f"could not fetch {self.url}")
        if self._clock() - self._fetched_at > self.max_stale:
            raise KeysUnavailable(f"{self.url} unreachable for longer than {self.max_stale:.0f}s")
        return keys

    def _refresh(self, wait: bool) -> None:
        if not self._lock.acquire(blocking=wait):
            return
        try:
            if not self._may_fetch(self._clock()):
                return  # another thread fetched while we waited for the lock
            self._attempted_at = self._clock()
            try:
                response = self.session.get(self.url, timeout=self.timeout, allow_redirects=False)
                response.raise_for_status()
                keys = parse_jwks(response.json(), self.algorithms)
            except (requests.RequestException, ValueError) as exc:
                state = "keeping the cached keys" if self._keys is not None else "no keys yet"
                log.warning("JWKS fetch from %s failed (%s); %s", self.url, exc, state)
                return
            self._keys = keys
            self._fetched_at = self._clock()
        finally:
            self._lock.release()


class LocalKeys:
    """Keys from a function returning the JWKS dict (the server's own key store).

    Parsed keys are reused until the set of published kids changes.
    """

    def __init__(self, jwks: Callable[[], dict[str, Any]], algorithms: Iterable[str] = ALGORITHMS):
        self._jwks = jwks
        self.algorithms = tuple(algorithms)
        self._cached: tuple[tuple[str, ...], dict[str, PyJWK]] = ((), {})

    def get(self, kid: str) -> PyJWK:
        data = self._jwks()
        kids = tuple(str(k.get("kid")) for k in data.get("keys", []))
        if kids != self._cached[0]:
            self._cached = (kids, parse_jwks(data, self.algorithms) if kids else {})
        key = self._cached[1].get(kid)
        if key is None:
            raise UnknownKey(kid)
        return key
