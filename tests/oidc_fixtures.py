"""An OIDC-ready app and a small relying-party driver for the provider tests.

Test modules import the `oidc` fixture (and whatever helpers they need) from
here; the fixture builds the app on the throwaway Redis with a fresh key store.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet
from werkzeug.test import TestResponse

from oidc_adapter.keys import KeyStore

from .conftest import ADMIN_TOKEN

ISSUER = "http://localhost:8000"
SECRET = "alb-secret-0123456789abcdef"
OTHER_SECRET = "other-secret-0123456789abcdef"
REDIRECT = "https://shop.example.com/oauth2/idpresponse"
OTHER_REDIRECT = "https://other.example.com/cb"
SESSION_SECONDS = 900


#: The shop's own site, where /wait/shop may send visitors back (redirect integration).
SITE = "https://shop.example.com"


def default_rooms() -> dict[str, Any]:
    return {
        "shop": {
            "admit_per_minute": 600,
            "max_active": 0,
            "session_seconds": SESSION_SECONDS,
            "return_origins": [SITE],
        },
    }


def default_clients(room: str = "shop", **alb: Any) -> dict[str, Any]:
    return {
        "alb": {"secret": SECRET, "redirect_uris": [REDIRECT], "room": room, **alb},
        "other": {"secret": OTHER_SECRET, "redirect_uris": [OTHER_REDIRECT], "room": room},
        "multi": {
            "secret": OTHER_SECRET,
            "redirect_uris": ["https://a.example.com/cb", "https://b.example.com/cb"],
            "room": room,
        },
        "strict": {
            "secret": OTHER_SECRET,
            "redirect_uris": ["https://strict.example.com/cb"],
            "room": room,
            "require_pkce": True,
        },
    }


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def basic(client_id: str = "alb", secret: str = SECRET) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def query(response: TestResponse) -> dict[str, str]:
    """The single-valued query parameters of a redirect's Location."""
    parsed = parse_qs(urlsplit(response.headers["Location"]).query)
    assert all(len(v) == 1 for v in parsed.values()), parsed
    return {k: v[0] for k, v in parsed.items()}


def redirect_base(response: TestResponse) -> str:
    parts = urlsplit(response.headers["Location"])
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


@dataclass
class Oidc:
    """One provider plus a browser (its test client) and a relying party's calls."""

    app: Flask
    browser: FlaskClient

    @property
    def redis(self) -> Any:
        return self.app.extensions["waiting_room"].redis

    def new_browser(self) -> FlaskClient:
        return self.app.test_client()

    def authorize_params(self, **overrides: Any) -> dict[str, Any]:
        params: dict[str, Any] = {
            "client_id": "alb",
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": "openid",
            "state": secrets.token_urlsafe(12),
            "nonce": secrets.token_urlsafe(12),
        }
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}

    def authorize(
        self, browser: FlaskClient | None = None, method: str = "GET", **overrides: Any
    ) -> TestResponse:
        params = self.authorize_params(**overrides)
        browser = browser or self.browser
        if method == "POST":
            return browser.post("/authorize", data=params)
        return browser.get("/authorize", query_string=params)

    def code(self, browser: FlaskClient | None = None, **overrides: Any) -> tuple[str, dict]:
        """Authorize a served user: (code, the authorization request's parameters)."""
        params = self.authorize_params(**overrides)
        response = (browser or self.browser).get("/authorize", query_string=params)
        assert response.status_code == 302, response.get_data(as_text=True)
        got = query(response)
        assert "code" in got, got
        return got["code"], params

    def token(
        self,
        code: str,
        client_id: str = "alb",
        secret: str = SECRET,
        auth: str = "basic",
        redirect_uri: str | None = REDIRECT,
        **extra: str,
    ) -> TestResponse:
        data = {"grant_type": "authorization_code", "code": code, **extra}
        if redirect_uri is not None:
            data["redirect_uri"] = redirect_uri
        headers: dict[str, str] = {}
        if auth == "basic":
            headers = basic(client_id, secret)
        elif auth == "post":
            data.update(client_id=client_id, client_secret=secret)
        return self.browser.post("/token", data=data, headers=headers)

    def login(self, **overrides: Any) -> tuple[dict[str, Any], dict]:
        """A whole login for a served user: (token response JSON, authorize params)."""
        code, params = self.code(**overrides)
        response = self.token(code, redirect_uri=params.get("redirect_uri", REDIRECT))
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.json, params

    def jwks(self) -> KeySet:
        return KeySet.import_key_set(self.browser.get("/.well-known/jwks.json").json)

    def decode(self, token: str) -> jwt.Token:
        return jwt.decode(token, self.jwks(), algorithms=["RS256", "ES256"])

    def room(self, name: str = "shop") -> dict[str, Any]:
        response = self.browser.get(f"/admin/rooms/{name}", headers=admin())
        assert response.status_code == 200
        return response.json

    def admit(self, count: int = 1, name: str = "shop") -> dict[str, Any]:
        response = self.browser.post(
            f"/admin/rooms/{name}/admit", json={"count": count}, headers=admin()
        )
        assert response.status_code == 200, response.json
        return response.json

    def code_keys(self) -> list[str]:
        return list(self.redis.scan_iter("wr:code:*"))


def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


OidcFactory = Callable[..., Oidc]


_key_templates: list[Path] = []


def key_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One generated key store per run, copied for each test: RSA key generation is slow."""
    if not _key_templates:
        directory = tmp_path_factory.mktemp("oidc-keys") / "keys"
        KeyStore(directory).ensure()
        _key_templates.append(directory)
    return _key_templates[0]


@pytest.fixture
def make_oidc(make_app, clock, tmp_path, tmp_path_factory) -> OidcFactory:
    """Build an OIDC app; keyword arguments go to the config (rooms, clients, issuer...).

    The keys live in tmp_path/keys, so a test may rotate them before building.
    The room engine's clock is set to the wall clock, because the provider
    stamps tokens (iat, auth_time, expires_in) with time.time().
    """
    clock.ms = int(time.time() * 1000)
    keys_dir = tmp_path / "keys"
    shutil.copytree(key_template(tmp_path_factory), keys_dir)

    def factory(
        rooms: dict[str, Any] | None = None, clients: dict[str, Any] | None = None, **extra: Any
    ) -> Oidc:
        app = make_app(
            rooms or default_rooms(),
            clients or default_clients(),
            keys_dir=str(keys_dir),
            issuer=extra.pop("issuer", ISSUER),
            **extra,
        )
        return Oidc(app=app, browser=app.test_client())

    return factory


@pytest.fixture
def oidc(make_oidc) -> Oidc:
    """The default provider: room `shop` with spare capacity, clients alb/other/multi/strict."""
    return make_oidc()
