"""Compact JWS signing with a key parsed once.

Every login signs two tokens, so the per-token work is kept to what must
change: the claims and the signature. The private key is the `cryptography`
object parsed when the key store loaded it, and the encoded header of each
token type is built on first use and kept, since `alg`, `kid` and `typ` are
fixed for a key. A `Signer` belongs to one key (one kid); the key store
builds a new one when a rotation makes another key sign, so nothing here
needs invalidating.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .material import SigningKey

#: ES256 signatures are r || s, each a 32-byte big-endian integer (RFC 7518 §3.4).
_ES256_HALF = 32


def b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class Signer:
    """Signs JWTs with one key: `kid`, `alg` and the parsed key never change."""

    def __init__(self, kid: str, alg: str, key: SigningKey):
        self.kid = kid
        self.alg = alg
        #: The store's parsed key, for callers that need the JWK itself.
        self.key = key
        private = key.private_key
        if alg == "RS256":
            self._sign = lambda data: private.sign(data, padding.PKCS1v15(), hashes.SHA256())
        else:
            self._sign = lambda data: _es256_raw(private.sign(data, ec.ECDSA(hashes.SHA256())))
        self._headers: dict[str, bytes] = {}

    def sign(self, claims: dict[str, Any], typ: str) -> str:
        """A compact JWS of `claims` with header {alg, kid, typ}."""
        head = self._headers.get(typ)
        if head is None:
            header = {"alg": self.alg, "kid": self.kid, "typ": typ}
            head = self._headers[typ] = b64url(_json(header)) + b"."
        signing_input = head + b64url(_json(claims))
        return (signing_input + b"." + b64url(self._sign(signing_input))).decode("ascii")


def _es256_raw(der: bytes) -> bytes:
    """cryptography returns DER; JWS wants the fixed-width r || s."""
    r, s = decode_dss_signature(der)
    return r.to_bytes(_ES256_HALF, "big") + s.to_bytes(_ES256_HALF, "big")
