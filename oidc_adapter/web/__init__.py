"""The HTTP layer: every blueprint, and the helpers they share.

| module | answers |
| --- | --- |
| `authorize` | /authorize, as named steps (the waiting page lives here) |
| `token`, `userinfo`, `discovery` | the rest of the OpenID provider |
| `rooms_api`, `tickets_api` | the room and ticket JSON API (direct integration) |
| `sessions_api`, `forward_auth` | the protected site: end a session, gate a request |
| `wait`, `handoff` | the redirect integration: wait, then hand the visitor back to the site |
| `admin_api`, `health`, `metrics` | operators and orchestrators |
| `dashboard`, `dashboard_session` | the operators' live dashboard at /admin/ and its sign-in |
| `access_log` | JSON lines per request and per operator action |
| `pages`, `branding` | the waiting and error pages and their files |

Blueprints read the app's parts from `oidc_adapter.services`; nothing below
this package imports it.
"""

from __future__ import annotations

from flask import Flask

from ..config import Config
from . import (
    admin_api,
    authorize,
    branding,
    dashboard,
    discovery,
    forward_auth,
    handoff,
    health,
    metrics,
    rooms_api,
    sessions_api,
    tickets_api,
    token,
    userinfo,
    wait,
)
from .access_log import register_access_log
from .cors import register_cors
from .errors import register_error_handlers
from .pages import TEMPLATE_FOLDER
from .proxies import TrustedProxies
from .security_headers import register_security_headers

BLUEPRINTS = (
    authorize.bp,
    token.bp,
    userinfo.bp,
    discovery.bp,
    rooms_api.bp,
    tickets_api.bp,
    sessions_api.bp,
    forward_auth.bp,
    wait.bp,
    handoff.bp,
    admin_api.bp,
    dashboard.bp,
    health.bp,
    metrics.bp,
    branding.bp,
)


def register(app: Flask, config: Config) -> None:
    """Every blueprint and the cross-cutting parts: errors, CORS, proxies, headers,
    metrics and logs."""
    app.wsgi_app = TrustedProxies(app.wsgi_app, config.trusted_proxies)  # type: ignore[method-assign]
    metrics.register_request_metrics(app)
    register_access_log(app, config)
    register_error_handlers(app)
    register_cors(app, config.cors_origins)
    register_security_headers(app, config)
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)


__all__ = ["TEMPLATE_FOLDER", "health", "register"]
