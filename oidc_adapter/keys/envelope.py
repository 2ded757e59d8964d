"""Envelope encryption of private keys kept in Redis (AES-256-GCM).

Each private key gets its own random data key; the data key is wrapped by the
key-encryption key (KEK) that only the app hosts hold. Both ciphertexts carry
the key's kid and alg as associated data, so a blob copied to another kid (or
relabelled to another algorithm) fails to decrypt instead of being accepted.
The envelope names the KEK by a fingerprint, so a host started with another
KEK says exactly that instead of a bare "decryption failed".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .material import KeyStoreError

FORMAT = 1
NONCE_BYTES = 12
_BINARY = ("key_nonce", "wrapped_key", "nonce", "ciphertext")


def kek_id(kek: bytes) -> str:
    """A fingerprint that names the KEK in messages without revealing it."""
    return hmac.new(kek, b"oidc-adapter kek id", hashlib.sha256).hexdigest()[:16]


def _aad(kid: str, alg: str) -> bytes:
    return f"oidc-adapter signing key v{FORMAT}\0{kid}\0{alg}".encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def seal(kek: bytes, kid: str, alg: str, pem: bytes) -> str:
    """The private key `pem` of `kid` as a JSON envelope holding only ciphertext."""
    data_key = AESGCM.generate_key(bit_length=256)
    nonce, key_nonce = os.urandom(NONCE_BYTES), os.urandom(NONCE_BYTES)
    envelope = {
        "format": FORMAT,
        "alg": alg,
        "kek": kek_id(kek),
        "key_nonce": _b64(key_nonce),
        "wrapped_key": _b64(AESGCM(kek).encrypt(key_nonce, data_key, _aad(kid, alg))),
        "nonce": _b64(nonce),
        "ciphertext": _b64(AESGCM(data_key).encrypt(nonce, pem, _aad(kid, alg))),
    }
    return json.dumps(envelope, separators=(",", ":"))


def open_envelope(kek: bytes, kid: str, alg: str, text: str) -> bytes:
    """The PEM sealed in `text` for `kid`/`alg`; KeyStoreError saying why if not."""
    try:
        envelope = json.loads(text)
        fingerprint = envelope["kek"]
        parts = [base64.b64decode(envelope[name], validate=True) for name in _BINARY]
    except (ValueError, KeyError, TypeError):
        raise KeyStoreError(f"key {kid}: the stored envelope is malformed") from None
    if envelope.get("format") != FORMAT:
        raise KeyStoreError(f"key {kid}: unknown envelope format {envelope.get('format')!r}")
    if fingerprint != kek_id(kek):
        raise KeyStoreError(
            f"key {kid} is encrypted under another key-encryption key (id {fingerprint}); "
            f"OIDC_ADAPTER_KEY_ENCRYPTION_KEY here has id {kek_id(kek)}"
        )
    key_nonce, wrapped, nonce, ciphertext = parts
    try:
        data_key = AESGCM(kek).decrypt(key_nonce, wrapped, _aad(kid, alg))
        return AESGCM(data_key).decrypt(nonce, ciphertext, _aad(kid, alg))
    except (InvalidTag, ValueError):
        raise KeyStoreError(
            f"key {kid} ({alg}) does not decrypt: altered, or stored under another kid or alg"
        ) from None
