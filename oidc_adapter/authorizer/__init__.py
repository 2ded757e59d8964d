"""The protected side: verify the waiting room's access tokens.

    from oidc_adapter.authorizer import Authorizer, SessionCheck

    authorizer = Authorizer(
        "https://wait.example.com",
        rooms=["shop"],                         # audience: .../api/rooms/shop
        sessions=SessionCheck.from_redis("redis://queue:6379/0"),  # optional
    )
    identity = authorizer.verify(token)         # or raises Denied

Plug-ins: `AuthorizerMiddleware` (WSGI), `WaitingRoomGate` (WSGI, the
redirect integration: sends browsers to wait and takes them back),
`forward_auth_app` (nginx auth_request, Traefik forwardAuth, Envoy
ext_authz) and `aws_lambda.handler` (API Gateway). See docs/integrations.md.
"""

from .handoff import HANDOFF_TOKEN, HANDOFF_TOKEN_TYPE, WaitingRoomGate
from .key_sources import JwksKeys, KeysUnavailable, LocalKeys, UnknownKey
from .sessions import SessionCheck
from .verify import (
    ACCESS_TOKEN,
    Authorizer,
    Denied,
    Identity,
    SessionStateUnavailable,
    TokenKind,
    Unavailable,
    api_audience,
)
from .wsgi import AuthorizerMiddleware, forward_auth_app, identity_headers, request_token

__all__ = [
    "ACCESS_TOKEN",
    "HANDOFF_TOKEN",
    "HANDOFF_TOKEN_TYPE",
    "Authorizer",
    "AuthorizerMiddleware",
    "Denied",
    "Identity",
    "JwksKeys",
    "KeysUnavailable",
    "LocalKeys",
    "SessionCheck",
    "SessionStateUnavailable",
    "TokenKind",
    "Unavailable",
    "UnknownKey",
    "WaitingRoomGate",
    "api_audience",
    "forward_auth_app",
    "identity_headers",
    "request_token",
]
