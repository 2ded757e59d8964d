"""Signing with keys parsed once: each active key's Signer is reused token after
token, follows a rotation (the new kid signs, in this process and in a reader
process's store), and what it signs verifies against the published JWKS with
two independent JOSE libraries."""

from __future__ import annotations

import jwt as pyjwt
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from oidc_adapter.keys import KeyStore, store

ALGS = ("RS256", "ES256")


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory):
    """One store for the module: RSA key generation is slow."""
    directory = tmp_path_factory.mktemp("signer") / "keys"
    KeyStore(directory, algs=ALGS).ensure()
    return directory


def verify(keys: KeyStore, token: str) -> jwt.Token:
    """Checked against the JWKS only, as a relying party does."""
    return jwt.decode(token, KeySet.import_key_set(keys.public_jwks()), algorithms=list(ALGS))


@pytest.mark.parametrize("alg", ALGS)
def test_signed_tokens_verify_against_the_jwks_with_both_libraries(keys_dir, alg):
    keys = KeyStore(keys_dir, algs=ALGS)
    signer = keys.signer(alg)
    claims = {"iss": "https://wait.example.com", "sub": "s", "aud": ["a", "b"], "exp": 2**31}
    token = signer.sign(claims, "at+jwt")

    decoded = verify(keys, token)
    assert decoded.header == {"alg": alg, "kid": signer.kid, "typ": "at+jwt"}
    assert decoded.claims == claims
    (public,) = [k for k in keys.public_jwks()["keys"] if k["kid"] == signer.kid]
    key = pyjwt.PyJWK(public)
    assert pyjwt.decode(token, key.key, algorithms=[alg], audience="a") == claims


def test_the_parsed_key_is_reused_not_parsed_per_token(keys_dir, monkeypatch):
    keys = KeyStore(keys_dir, algs=ALGS, reload_interval=0)
    first = keys.signer("RS256")
    parsed = []
    monkeypatch.setattr(store, "load_private", lambda *a: parsed.append(a))
    tokens = [keys.signer("RS256").sign({"n": n}, "JWT") for n in range(20)]

    assert parsed == []  # no key file read or parsed again, though the store re-checked
    assert keys.signer("RS256") is first
    assert len(set(tokens)) == 20 and all(verify(keys, t).claims for t in tokens)


def test_after_a_rotation_the_new_key_signs_and_its_tokens_verify(tmp_path):
    writer = KeyStore(tmp_path / "keys", algs=ALGS)
    writer.ensure()
    # A server worker: its own store object, re-reading the folder as soon as it changed.
    reader = KeyStore(tmp_path / "keys", algs=ALGS, reload_interval=0)
    before = {alg: reader.signer(alg) for alg in ALGS}
    old_tokens = {alg: before[alg].sign({"sub": "old"}, "JWT") for alg in ALGS}

    promoted = {info.alg: info.kid for info in writer.rotate()}

    for alg in ALGS:
        now = reader.signer(alg)
        assert now is not before[alg]
        assert now.kid == promoted[alg] != before[alg].kid
        token = now.sign({"sub": "new"}, "JWT")
        assert verify(reader, token).header["kid"] == promoted[alg]
        # The retired key stays published: what it signed before still verifies.
        assert verify(reader, old_tokens[alg]).claims == {"sub": "old"}


def test_a_rotation_of_one_algorithm_keeps_the_other_signer(tmp_path):
    keys = KeyStore(tmp_path / "keys", algs=ALGS)
    keys.ensure()
    rs, es = keys.signer("RS256"), keys.signer("ES256")
    keys.rotate("ES256")
    assert keys.signer("RS256") is rs
    assert keys.signer("ES256").kid != es.kid
