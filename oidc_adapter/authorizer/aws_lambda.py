"""An AWS API Gateway Lambda authorizer (TOKEN and REQUEST types).

Like the token authorizer of the retired "Virtual Waiting Room on AWS", it
answers with an IAM policy: Allow with the subject as principalId and the
session in the context, or Deny. The policy covers the whole stage
(`.../stage/*`), because API Gateway caches it per token for every route.

Two cases raise instead of returning a policy, on purpose: no token at all
raises "Unauthorized" (API Gateway's documented way to answer 401), and an
unreachable JWKS or session store raises so API Gateway answers 500 and,
unlike a Deny, caches nothing.

Configured by environment for `handler` (module-level state survives warm
invocations, so the JWKS is fetched once per container):

    WR_ISSUER       the waiting room's issuer URL (required)
    WR_ROOMS        comma-separated rooms whose tokens pass (required)
    WR_AUDIENCE     comma-separated audiences (default: each room's API audience)
    WR_JWKS_URL     default {WR_ISSUER}/.well-known/jwks.json
    WR_REDIS_URL    the queue's Redis: refuse tokens of sessions ended early
    WR_COOKIE       a cookie to read the token from when there is no Bearer header
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from .verify import Authorizer, Denied, Unavailable
from .wsgi import request_token

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class Unauthorized(Exception):
    """Raised with the exact message API Gateway turns into a 401."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


def event_token(event: Mapping[str, Any], cookie_name: str | None = None) -> str | None:
    """The token of a TOKEN event, or of a REQUEST event (payload 1.0 or 2.0)."""
    if event.get("type") == "TOKEN":
        raw = (event.get("authorizationToken") or "").strip()
        # The identity source is the whole header value; a bare token is accepted too.
        return request_token(raw, None, None) or (raw if raw and " " not in raw else None)
    headers = event.get("headers")
    cookies = _header(headers, "cookie")
    if event.get("cookies"):  # payload 2.0 moves cookies out of the headers
        cookies = "; ".join(event["cookies"])
    return request_token(_header(headers, "authorization"), cookies, cookie_name)


def stage_resource(arn: str) -> str:
    """arn:...:api-id/stage/METHOD/path -> arn:...:api-id/stage/*"""
    parts = arn.split("/")
    if len(parts) < 2:
        raise ValueError(f"not an API Gateway method or route ARN: {arn!r}")
    return "/".join(parts[:2]) + "/*"


def policy(
    principal: str, effect: str, resource: str, context: dict[str, str | int] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }
    if context:
        out["context"] = context
    return out


def lambda_authorizer(
    authorizer: Authorizer | Callable[[], Authorizer], *, cookie_name: str | None = None
) -> Handler:
    """A Lambda handler; pass a factory to build the Authorizer on the first call."""
    built: list[Authorizer] = [authorizer] if isinstance(authorizer, Authorizer) else []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if not built:
            built.append(authorizer())  # type: ignore[operator]
        resource = stage_resource(event.get("methodArn") or event.get("routeArn") or "")
        token = event_token(event, cookie_name)
        if not token:
            raise Unauthorized()
        try:
            identity = built[0].verify(token)
        except Unavailable:
            raise
        except Denied as exc:
            log.info("denied: %s", exc.description)
            return policy("denied", "Deny", resource, {"reason": exc.description})
        return policy(
            identity.subject,
            "Allow",
            resource,
            {
                "sub": identity.subject,
                "room": identity.room,
                "sid": identity.session,
                "exp": identity.expires_at,
                "client_id": identity.client_id,
            },
        )

    return handler


def _csv(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def authorizer_from_env(env: Mapping[str, str] | None = None) -> Authorizer:
    env = os.environ if env is None else env
    rooms = _csv(env.get("WR_ROOMS"))
    if not env.get("WR_ISSUER") or not rooms:
        raise RuntimeError("set WR_ISSUER and WR_ROOMS for the waiting-room authorizer")
    sessions = None
    if env.get("WR_REDIS_URL"):
        from .sessions import SessionCheck

        sessions = SessionCheck.from_redis(env["WR_REDIS_URL"])
    return Authorizer(
        env["WR_ISSUER"],
        _csv(env.get("WR_AUDIENCE")) or None,
        rooms=rooms,
        jwks_url=env.get("WR_JWKS_URL") or None,
        sessions=sessions,
    )


handler = lambda_authorizer(authorizer_from_env, cookie_name=os.environ.get("WR_COOKIE") or None)
