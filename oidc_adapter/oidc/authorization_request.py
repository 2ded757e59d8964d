"""The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1), checked once.

One strict parser replaces Authlib's authorization-side validation: the
login is held on our waiting page between the check and the code, so the
checks run once and the code is issued later from the parsed request.

Client and redirect URI are checked first and fail on our page, never by
redirect; once both are known good, any other problem is sent back to the
redirect URI (RFC 6749 §4.1.2.1), before anything is stored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from .clients import Client

MAX_PARAM_LENGTH = 2048
SINGLE_VALUED = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "ui_locales",
    "response_mode",
)
UNSUPPORTED = (("request", "request_not_supported"), ("request_uri", "request_uri_not_supported"))
#: RFC 7636 §4.2: 43 to 128 characters of the unreserved set.
CODE_CHALLENGE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
INVALID_LINK = "This sign-in link is not valid"


class RequestValues(Protocol):
    """Request parameters that may repeat (werkzeug's MultiDict)."""

    def lists(self) -> Iterable[tuple[str, list[Any]]]: ...


class Params:
    """The parameters read once into a plain dict: the checks below look up a
    dozen names twice each, which on werkzeug's combined query and form
    cost more than the rest of the parsing."""

    __slots__ = ("_lists",)

    def __init__(self, values: RequestValues):
        self._lists = dict(values.lists())

    def get(self, key: str, default: Any = None) -> Any:
        found = self._lists.get(key)
        return found[0] if found else default

    def getlist(self, key: str) -> list[Any]:
        return self._lists.get(key, [])


class AuthorizationError(Exception):
    """A refused login. With a `redirect_uri` it goes back to the client as
    `error=`; without one (client or redirect URI not verified) it is shown on
    our page under `title`."""

    def __init__(
        self,
        error: str,
        description: str,
        *,
        redirect_uri: str | None = None,
        state: str | None = None,
        title: str = INVALID_LINK,
    ):
        super().__init__(description)
        self.error = error
        self.description = description
        self.redirect_uri = redirect_uri
        self.state = state
        self.title = title


Refuse = Callable[[str, str], AuthorizationError]


@dataclass(frozen=True)
class AuthorizationRequest:
    client: Client
    redirect_uri: str
    scope: str
    state: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    prompt: tuple[str, ...]

    def refuse(self, error: str, description: str) -> AuthorizationError:
        """An error sent back to this (verified) client."""
        return _refusal(self.redirect_uri, self.state)(error, description)


def _refusal(redirect_uri: str, state: str | None) -> Refuse:
    return partial(AuthorizationError, redirect_uri=redirect_uri, state=state)


def _param_problem(values: Params, name: str) -> str | None:
    if len(values.getlist(name)) > 1:
        return f"'{name}' is repeated."
    if len(values.get(name) or "") > MAX_PARAM_LENGTH:
        return f"'{name}' is too long."
    return None


def _verified_client(values: Params, clients: Mapping[str, Client]) -> tuple[Client, str]:
    for name in ("client_id", "redirect_uri"):
        problem = _param_problem(values, name)
        if problem:
            raise AuthorizationError("invalid_request", problem)
    client = clients.get(values.get("client_id") or "")
    if client is None:
        raise AuthorizationError(
            "invalid_client",
            "The application that sent you here is not registered.",
            title="Unknown application",
        )
    redirect_uri = values.get("redirect_uri")
    if not redirect_uri:
        # Required on every OpenID request (Core §3.1.2.1), even for a one-URI client.
        raise AuthorizationError("invalid_request", "'redirect_uri' is required.")
    if not client.check_redirect_uri(redirect_uri):
        raise AuthorizationError("invalid_request", "The return address is not registered.")
    return client, redirect_uri


def _check_shape(values: Params, refuse: Refuse) -> None:
    """Parameters that must appear once, be short and be well-formed."""
    for name in SINGLE_VALUED:
        problem = _param_problem(values, name)
        if problem:
            raise refuse("invalid_request", problem)
    max_age = values.get("max_age")
    if max_age and not (max_age.isascii() and max_age.isdigit()):
        raise refuse("invalid_request", "'max_age' must be a whole number of seconds.")
    for name, error in UNSUPPORTED:
        if values.get(name):
            raise refuse(error, f"'{name}' is not supported.")
    if values.get("response_type") != "code":
        raise refuse("unsupported_response_type", "Only response_type=code is supported.")
    if values.get("response_mode", "query") != "query":
        # Silently answering in the query would break an RP that reads a fragment or form.
        raise refuse("invalid_request", "Only response_mode=query is supported.")


def _check_pkce(client: Client, challenge: str | None, method: str | None, refuse: Refuse) -> None:
    """S256 only (plain would let an eavesdropper on the request redeem the code)."""
    if challenge and method != "S256":
        raise refuse("invalid_request", "Only code_challenge_method=S256 is supported.")
    if not challenge and client.settings.require_pkce:
        raise refuse("invalid_request", "This client must use PKCE (code_challenge, S256).")
    if method and not challenge:
        raise refuse("invalid_request", "Missing 'code_challenge'.")
    if challenge and not CODE_CHALLENGE.fullmatch(challenge):
        raise refuse("invalid_request", "Invalid 'code_challenge'.")


def parse_authorization_request(
    request_values: RequestValues, clients: Mapping[str, Client]
) -> AuthorizationRequest:
    """The checked request, or AuthorizationError saying where the error goes."""
    values = Params(request_values)
    client, redirect_uri = _verified_client(values, clients)
    state = None if _param_problem(values, "state") else values.get("state")
    refuse = _refusal(redirect_uri, state)
    _check_shape(values, refuse)
    scope = client.get_allowed_scope(values.get("scope"))
    if scope is None:
        raise refuse("invalid_scope", "The scope must include openid.")
    challenge, method = values.get("code_challenge"), values.get("code_challenge_method")
    _check_pkce(client, challenge, method, refuse)
    prompt = tuple((values.get("prompt") or "").split())
    if "none" in prompt and len(prompt) > 1:
        raise refuse("invalid_request", "'prompt=none' cannot be combined with other values.")
    return AuthorizationRequest(
        client=client,
        redirect_uri=redirect_uri,
        scope=scope,
        state=state,
        nonce=values.get("nonce") or None,
        code_challenge=challenge or None,
        code_challenge_method=method or None,
        prompt=prompt,
    )
