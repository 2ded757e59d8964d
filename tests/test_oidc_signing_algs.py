"""Per-client ID token algorithms (`id_token_signed_response_alg`) through real logins,
and readiness needing a signing key for every algorithm in use."""

from __future__ import annotations

from typing import Any

from oidc_adapter.keys import KeyStore

from . import oidc_fixtures as fx
from .oidc_fixtures import OTHER_REDIRECT, OTHER_SECRET, REDIRECT, SECRET
from .test_oidc_flow import at_hash

make_oidc = fx.make_oidc  # fixture

KTY = {"RS256": "RSA", "ES256": "EC"}


def es256_other() -> dict[str, Any]:
    """The default clients, with `other` asking for ES256 ID tokens."""
    clients = fx.default_clients()
    clients["other"]["id_token_signed_response_alg"] = "ES256"
    return clients


def login_as(oidc: fx.Oidc, client_id: str, secret: str, redirect_uri: str) -> dict[str, Any]:
    """A whole login in a browser of its own (each client's user holds their own ticket)."""
    code, _ = oidc.code(oidc.new_browser(), client_id=client_id, redirect_uri=redirect_uri)
    response = oidc.token(code, client_id=client_id, secret=secret, redirect_uri=redirect_uri)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def test_each_client_gets_id_tokens_of_its_own_algorithm(make_oidc, tmp_path):
    KeyStore(tmp_path / "keys", algs=["ES256"]).ensure()  # what `serve` does at start
    oidc = make_oidc(clients=es256_other())
    published = {k["kid"]: k for k in oidc.browser.get("/.well-known/jwks.json").json["keys"]}

    es = login_as(oidc, "other", OTHER_SECRET, OTHER_REDIRECT)
    rs = login_as(oidc, "alb", SECRET, REDIRECT)

    for tokens, alg, aud in ((es, "ES256", "other"), (rs, "RS256", "alb")):
        id_token = oidc.decode(tokens["id_token"])  # verified against the JWKS
        kid = id_token.header["kid"]
        assert id_token.header["alg"] == alg
        assert (published[kid]["alg"], published[kid]["kty"]) == (alg, KTY[alg])
        assert id_token.claims["aud"] in (aud, [aud])
        assert id_token.claims["at_hash"] == at_hash(tokens["access_token"])
        # Access tokens keep the server's signing_alg, whoever the client is.
        assert oidc.decode(tokens["access_token"]).header["alg"] == "RS256"
    doc = oidc.browser.get("/.well-known/openid-configuration").json
    assert doc["id_token_signing_alg_values_supported"] == ["ES256", "RS256"]


def test_signing_alg_es256_signs_access_tokens_while_id_tokens_default_to_rs256(
    make_oidc, tmp_path
):
    KeyStore(tmp_path / "keys", alg="ES256").ensure()
    oidc = make_oidc(signing_alg="ES256")
    tokens, _ = oidc.login()
    assert oidc.decode(tokens["id_token"]).header["alg"] == "RS256"
    access = oidc.decode(tokens["access_token"])
    assert (access.header["alg"], access.header["typ"]) == ("ES256", "at+jwt")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert oidc.browser.get("/userinfo", headers=bearer).status_code == 200


def test_readyz_needs_a_signing_key_for_every_algorithm_in_use(make_oidc, tmp_path):
    """An RS256-only store and a config that now has an ES256 client: not ready
    (that client's logins would fail) until the keys exist, as `serve` makes them."""
    not_yet = make_oidc(clients=es256_other()).browser.get("/readyz")
    assert not_yet.status_code == 503
    assert not_yet.json["checks"]["signing_key"] is False

    KeyStore(tmp_path / "keys", algs=["ES256"]).ensure()
    ready = make_oidc(clients=es256_other()).browser.get("/readyz")
    assert ready.status_code == 200, ready.json
    assert ready.json["checks"]["signing_key"] is True


def test_after_a_key_rotation_logins_are_signed_by_the_new_keys(make_oidc, tmp_path):
    KeyStore(tmp_path / "keys", algs=["ES256"]).ensure()
    oidc = make_oidc(clients=es256_other())
    before = login_as(oidc, "other", OTHER_SECRET, OTHER_REDIRECT)

    # What `oidc-adapter keys rotate` does, in the server's own store.
    keys = oidc.app.extensions["waiting_room"].provider.tokens.keys
    promoted = {info.alg: info.kid for info in keys.rotate()}
    after = login_as(oidc, "other", OTHER_SECRET, OTHER_REDIRECT)

    id_token, access = oidc.decode(after["id_token"]), oidc.decode(after["access_token"])
    assert (id_token.header["alg"], id_token.header["kid"]) == ("ES256", promoted["ES256"])
    assert (access.header["alg"], access.header["kid"]) == ("RS256", promoted["RS256"])
    for tokens in (before, after):  # the retired keys stay published
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert oidc.browser.get("/userinfo", headers=bearer).status_code == 200
        assert oidc.decode(tokens["id_token"]).claims["aud"] in ("other", ["other"])
