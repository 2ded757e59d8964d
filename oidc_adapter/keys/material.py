"""Key material: generating, serialising and checking signing keys.

The kid is the RFC 7638 thumbprint, so it is unique without coordination
between hosts and binds each file name to the key inside it: a key file
swapped or corrupted on disk is caught when it is loaded.
"""

from __future__ import annotations

import re

from joserfc.jwk import ECKey, RSAKey

SigningKey = RSAKey | ECKey

ALGS = ("RS256", "ES256")
RSA_BITS = 2048
KID = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


class KeyStoreError(Exception):
    """A key store operation was refused or the store is unusable; the message says why."""


def check_alg(alg: str) -> str:
    if alg not in ALGS:
        raise KeyStoreError(f"unsupported algorithm {alg!r}; use one of {', '.join(ALGS)}")
    return alg


def generate(alg: str) -> SigningKey:
    """A fresh private key: 2048-bit RSA for RS256, P-256 for ES256."""
    if check_alg(alg) == "RS256":
        return RSAKey.generate_key(RSA_BITS, private=True)
    return ECKey.generate_key("P-256", private=True)


def kid_of(key: SigningKey) -> str:
    return key.thumbprint()


def to_pem(key: SigningKey) -> bytes:
    return key.as_pem(private=True)


def _params(kid: str, alg: str) -> dict[str, str]:
    return {"kid": kid, "alg": alg, "use": "sig"}


def load_private(pem: bytes, kid: str, alg: str) -> SigningKey:
    """Parse a key file and check it is the key the manifest names, of the right type."""
    check_alg(alg)
    try:
        key: SigningKey = (RSAKey if alg == "RS256" else ECKey).import_key(pem, _params(kid, alg))
    except Exception as exc:  # joserfc/cryptography raise many types for bad input
        raise KeyStoreError(f"key file for {kid} is not a valid {alg} key: {exc}") from None
    if not key.is_private:
        raise KeyStoreError(f"key file for {kid} holds no private key")
    if alg == "RS256" and key.raw_value.key_size < RSA_BITS:
        raise KeyStoreError(f"key {kid} is RSA {key.raw_value.key_size}; at least 2048 required")
    if alg == "ES256" and key.curve_name != "P-256":
        raise KeyStoreError(f"key {kid} uses curve {key.curve_name}; ES256 needs P-256")
    if kid_of(key) != kid:
        raise KeyStoreError(f"key file for {kid} holds a different key (thumbprint mismatch)")
    return key


def public_of(key: SigningKey, kid: str, alg: str) -> SigningKey:
    """The public half only, so nothing that verifies or publishes can leak private parts."""
    return type(key).import_key(key.as_dict(private=False), _params(kid, alg))
