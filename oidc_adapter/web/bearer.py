"""Which configured secret an `Authorization: Bearer` header carries, one rule
for the admin API (named tokens) and the metrics token."""

from __future__ import annotations

import hmac
from collections.abc import Mapping


def bearer_match(header: str | None, tokens: Mapping[str, str]) -> str | None:
    """The name of the token the header carries, or None. Every token is
    compared, in constant time, so timing tells neither which nor how much matched."""
    scheme, _, given = (header or "").partition(" ")
    presented = given.strip().encode()
    found = None
    for name, token in tokens.items():
        if hmac.compare_digest(presented, token.encode()) and scheme.lower() == "bearer":
            found = name
    return found
