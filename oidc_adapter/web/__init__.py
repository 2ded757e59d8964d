"""The HTTP layer: every blueprint, and the helpers they share.

| module | answers |
| --- | --- |
| `authorize` | /authorize, as named steps (the waiting page lives here) |
| `token`, `userinfo`, `discovery` | the rest of the OpenID provider |
| `rooms_api`, `tickets_api` | the room and ticket JSON API (direct integration) |
| `sessions_api`, `forward_auth` | the protected site: end a session, gate a request |
| `admin_api`, `health` | operators and orchestrators |
| `pages`, `branding` | the waiting and error pages and their files |

Blueprints read the app's parts from `oidc_adapter.services`; nothing below
this package imports it.
"""

from __future__ import annotations

from flask import Flask

from . import (
    admin_api,
    authorize,
    branding,
    discovery,
    forward_auth,
    health,
    rooms_api,
    sessions_api,
    tickets_api,
    token,
    userinfo,
)
from .cors import register_cors
from .errors import register_error_handlers
from .pages import TEMPLATE_FOLDER

BLUEPRINTS = (
    authorize.bp,
    token.bp,
    userinfo.bp,
    discovery.bp,
    rooms_api.bp,
    tickets_api.bp,
    sessions_api.bp,
    forward_auth.bp,
    admin_api.bp,
    health.bp,
    branding.bp,
)


def register(app: Flask, cors_origins: tuple[str, ...]) -> None:
    register_error_handlers(app)
    register_cors(app, cors_origins)
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)


__all__ = ["TEMPLATE_FOLDER", "health", "register"]
