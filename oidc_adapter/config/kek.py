"""The key-encryption key (KEK) of the Redis key store, read from the environment only.

It lives here, not in keys/, because the config checks it: a server with a
missing or malformed KEK must fail its config check, not its first login.
It is never written to a file we produce or to Redis: whoever reads a Redis
dump or backup must not be able to unwrap the signing keys in it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

KEK_ENV = "OIDC_ADAPTER_KEY_ENCRYPTION_KEY"
KEK_BYTES = 32
HOW_TO_MAKE = 'python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"'


def key_encryption_key(env: Mapping[str, str]) -> bytes:
    """The 32-byte KEK from `env`; ValueError with an operator-facing message otherwise."""
    text = (env.get(KEK_ENV) or "").strip()
    if not text:
        raise ValueError(
            f"the redis backend needs {KEK_ENV} in the environment "
            f"(base64 of 32 random bytes; make one with: {HOW_TO_MAKE})"
        )
    try:
        raw = base64.b64decode(text.translate(str.maketrans("-_", "+/")), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{KEK_ENV} is not valid base64") from None
    if len(raw) != KEK_BYTES:
        raise ValueError(f"{KEK_ENV} must decode to {KEK_BYTES} bytes, got {len(raw)}")
    return raw
