"""Checking tokens and key rotation from the outside, as a relying party would."""

from __future__ import annotations

import inspect
import time

import jwt

from oidc_adapter.keys import KeyStore

from .servers import Provider, run_cli, wait_until

#: How long a running worker may keep signing with the key it had: the key
#: store re-reads its manifest at most this often.
KEY_RELOAD_SECONDS = inspect.signature(KeyStore).parameters["reload_interval"].default


def verify_id_token(token: str, jwks: dict, issuer: str, audience: str) -> dict:
    """Signature (by the `kid` in the header), iss, aud and exp, or raise."""
    header = jwt.get_unverified_header(token)
    matching = [k for k in jwks["keys"] if k.get("kid") == header["kid"]]
    assert matching, f"kid {header['kid']} is not in the JWKS"
    key = jwt.PyJWK(matching[0]).key
    return jwt.decode(
        token,
        key,
        algorithms=[header["alg"]],
        audience=audience,
        issuer=issuer,
        options={"require": ["iss", "sub", "aud", "exp", "iat"]},
    )


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def rotate(provider: Provider, *, unpublished: bool = False) -> str:
    """`oidc-adapter keys rotate` on the running provider's key store, then wait
    until every worker must have re-read it. Returns the new active kid.

    `unpublished` drops the next key first, so the key that starts signing was
    never published before: what RPs meet after an emergency rotation, or with
    the first key of an algorithm the server created at start.
    """
    store = ("--keys-dir", str(provider.keys_dir))
    if unpublished:
        for info in KeyStore(provider.keys_dir).keys():
            if info.state == "next":
                run_cli("keys", "retire", info.kid, *store)
    before = {k["kid"] for k in provider.jwks()["keys"]}
    out = run_cli("keys", "rotate", *store)
    rotated_at = time.monotonic()
    active = next(line.split()[1] for line in out.splitlines() if line.startswith("active:"))
    fresh_next = next(line.split()[1] for line in out.splitlines() if line.startswith("next:"))
    published = active in before
    assert published != unpublished, f"{active} was published before the rotation: {published}"

    def picked_up() -> bool:
        published = {k["kid"] for k in provider.jwks()["keys"]}
        return fresh_next in published and time.monotonic() - rotated_at > KEY_RELOAD_SECONDS

    wait_until(picked_up, 10, "the running provider to pick up the rotation", interval=0.2)
    return active
