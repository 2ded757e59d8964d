"""Where the waiting room may send a visitor back (`/wait?return_to=`), and how
the handoff token rides on that URL.

A return address ends in a Location header together with a credential, so
it is held to the rules of an OAuth `redirect_uri` (RFC 9700 §4.1): the
origin must be configured exactly, and anything a browser, a proxy and a
URL parser might read differently is refused rather than repaired. The path
and query are free: the site decides what comes back to it.

No Flask here: the config checks a room's `default_return_to` with the same
rules, and the HTTP layer checks requests with them.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

#: The query parameter that carries the handoff token back to the site.
TOKEN_PARAM = "wr_token"  # noqa: S105 (a parameter name, not a secret)
MAX_LENGTH = 2048
NOT_REGISTERED = "The return address is not registered."


class ReturnToRefused(ValueError):
    """The visitor gets our error page with this text, never a redirect."""


def origin_of(url: str) -> str:
    """scheme://host[:port] exactly as written: no case folding, no default port."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _refuse_characters(url: str) -> None:
    """Characters parsers disagree on. Browsers send non-ASCII percent-encoded,
    so a raw one would not come back byte for byte either."""
    if not url.isascii():
        raise ReturnToRefused("The return address must be ASCII (percent-encode the rest).")
    if any(c.isspace() or c == "\\" or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise ReturnToRefused("The return address contains characters that are not allowed.")
    if "#" in url:
        # The handoff token goes into the query; a fragment after it would be
        # ambiguous, and redirect URIs may not have one either (RFC 6749 §3.1.2).
        raise ReturnToRefused("The return address must not contain a fragment.")


def check_return_to(url: str, origins: Iterable[str]) -> str:
    """`url` if it is an absolute http(s) URL on one of `origins`; ReturnToRefused if not."""
    if len(url) > MAX_LENGTH:
        raise ReturnToRefused("The return address is too long.")
    _refuse_characters(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a malformed port)
    except ValueError:
        raise ReturnToRefused("The return address is not a valid URL.") from None
    if parts.scheme not in ("https", "http") or not url.startswith(f"{parts.scheme}://"):
        raise ReturnToRefused("The return address must be an absolute http(s) URL.")
    if "@" in parts.netloc or "%" in parts.netloc:
        raise ReturnToRefused(NOT_REGISTERED)  # userinfo, or a host in disguise
    if origin_of(url) not in set(origins):
        raise ReturnToRefused(NOT_REGISTERED)
    return url


def with_token(url: str, token: str) -> str:
    """`url` with the handoff token appended to its query, the rest untouched."""
    if "?" not in url:
        return f"{url}?{TOKEN_PARAM}={token}"
    return f"{url}{'' if url.endswith(('?', '&')) else '&'}{TOKEN_PARAM}={token}"


def raw_return_to(query: str) -> str | None:
    """A return address that nginx wrote unencoded (`?return_to=$scheme://$host$request_uri`).

    Such a query is the address itself, its own `&` and `%xx` included, so it
    is taken verbatim rather than split into parameters. An encoded one
    (`return_to=https%3A%2F%2F...`) returns None: the caller parses it as an
    ordinary parameter.
    """
    prefix = "return_to="
    if not query.startswith(prefix):
        return None
    rest = query[len(prefix) :]
    return rest if rest.startswith(("https://", "http://")) else None
