"""Discovery and JWKS as the OpenID Foundation's Basic OP checks read them."""

from __future__ import annotations

import shutil

from joserfc.jwk import KeySet

from oidc_adapter.keys import KeyStore

from . import oidc_fixtures as fx
from .oidc_fixtures import ISSUER

make_oidc, oidc = fx.make_oidc, fx.oidc  # fixtures

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def test_discovery_fields(oidc):
    response = oidc.browser.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    doc = response.json
    assert doc["issuer"] == ISSUER
    assert doc["authorization_endpoint"] == f"{ISSUER}/authorize"
    assert doc["token_endpoint"] == f"{ISSUER}/token"
    assert doc["userinfo_endpoint"] == f"{ISSUER}/userinfo"
    assert doc["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert doc["response_types_supported"] == ["code"]
    assert doc["grant_types_supported"] == ["authorization_code"]
    assert doc["subject_types_supported"] == ["public"]
    assert "RS256" in doc["id_token_signing_alg_values_supported"]
    assert "none" not in doc["id_token_signing_alg_values_supported"]
    assert sorted(doc["token_endpoint_auth_methods_supported"]) == [
        "client_secret_basic",
        "client_secret_post",
    ]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert "openid" in doc["scopes_supported"]
    for claim in ("iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash"):
        assert claim in doc["claims_supported"]
    assert doc["authorization_response_iss_parameter_supported"] is True


def test_discovery_issuer_is_the_configured_one_without_trailing_slash(make_oidc):
    doc = make_oidc(issuer="https://wait.example.com/").browser.get(
        "/.well-known/openid-configuration"
    )
    assert doc.json["issuer"] == "https://wait.example.com"
    assert doc.json["token_endpoint"] == "https://wait.example.com/token"


def test_jwks_publishes_every_key_public_parts_only(make_oidc, tmp_path):
    store = KeyStore(tmp_path / "keys")
    store.ensure()
    store.rotate()  # now: one retired, one active, one next
    published = {info.kid for info in store.keys()}
    assert len(published) == 3

    response = make_oidc().browser.get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.json["keys"]
    assert {k["kid"] for k in keys} == published
    for key in keys:
        assert not PRIVATE_MEMBERS & key.keys(), key
        assert key["kty"] in ("RSA", "EC")
        assert key.get("use", "sig") == "sig"
    KeySet.import_key_set(response.json)  # well-formed JWKs


def test_tokens_are_signed_by_a_published_key_with_a_listed_alg(oidc):
    tokens, _ = oidc.login()
    doc = oidc.browser.get("/.well-known/openid-configuration").json
    kids = {k["kid"] for k in oidc.browser.get("/.well-known/jwks.json").json["keys"]}
    for name in ("id_token", "access_token"):
        header = oidc.decode(tokens[name]).header
        assert header["kid"] in kids
        assert header["alg"] in doc["id_token_signing_alg_values_supported"]


def test_rs256_is_listed_even_when_es256_is_the_signing_alg(make_oidc, tmp_path):
    """OpenID Discovery §3: RS256 MUST be listed, also by an ES256 install whose
    store holds ES256 keys only (`serve` adds the RS256 keys at start)."""
    keys = tmp_path / "keys"
    shutil.rmtree(keys)
    KeyStore(keys, alg="ES256").ensure()
    doc = make_oidc(signing_alg="ES256").browser.get("/.well-known/openid-configuration").json
    assert doc["id_token_signing_alg_values_supported"] == ["ES256", "RS256"]


def test_only_algorithms_in_use_are_listed(oidc):
    doc = oidc.browser.get("/.well-known/openid-configuration").json
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
