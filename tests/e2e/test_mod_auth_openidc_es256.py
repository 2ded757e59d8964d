"""mod_auth_openidc with ES256 ID tokens: what docs/operators.md recommends where
every RP accepts ES256. Apache is left at its defaults (no
OIDCIDTokenSignedResponseAlg), and the login must end on the protected page
with an ES256 ID token that verifies against our JWKS."""

from __future__ import annotations

import jwt
import pytest

from .servers import require_apache
from .test_mod_auth_openidc import OPEN, SECRET, client, protected
from .tokens import verify_id_token

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def _prerequisites() -> None:
    """Checked before any server starts: skip locally, fail under CI=true."""
    require_apache()


def test_a_client_registered_for_es256_logs_in_through_mod_auth_openidc(e2e):
    port = e2e.port()
    provider = e2e.provider(
        {"shop": OPEN}, {"apache": client(port, id_token_signed_response_alg="ES256")}
    )
    apache = e2e.apache(port, provider.metadata_url, "apache", SECRET)

    values = protected(apache, e2e.browser().open(apache.protected_url))

    header = jwt.get_unverified_header(values["id_token"])
    published = {k["kid"]: k for k in provider.jwks()["keys"]}
    assert header["alg"] == "ES256"
    assert published[header["kid"]]["kty"] == "EC"
    claims = verify_id_token(values["id_token"], provider.jwks(), provider.url, "apache")
    assert claims["sub"] == values["sub"] and values["aud"] == "apache"
