"""Which proxy headers to believe: X-Forwarded-Proto, -Host and -For count only
when the connection comes from a trusted proxy (`trusted_proxies`, CIDRs).

Scheme, host and client address are decided here once, for every request,
before Flask sees it: Authlib needs the https scheme a TLS load balancer
terminated, and the per-source limits need the real client address, which
an untrusted sender must not be able to choose.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Any

Network = IPv4Network | IPv6Network
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
SCHEMES = ("http", "https")


def _address(value: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(value.strip().removeprefix("[").split("]")[0])
    except ValueError:
        return None


def _first(header: str | None) -> str:
    """The client-side value of a header each proxy may have appended to."""
    return (header or "").split(",")[0].strip()


class TrustedProxies:
    """WSGI middleware: rewrite scheme, host and REMOTE_ADDR from a trusted peer's headers."""

    def __init__(self, app: WsgiApp, trusted: Iterable[Network]):
        self.app = app
        self.trusted = tuple(trusted)

    def is_trusted(self, address: str) -> bool:
        parsed = _address(address)
        return parsed is not None and any(parsed in network for network in self.trusted)

    def client_address(self, peer: str, forwarded_for: str | None) -> str:
        """Walk X-Forwarded-For from the right past trusted proxies: the first hop we
        do not trust is the client (a trusted chain's leftmost valid hop otherwise)."""
        client = peer
        for hop in reversed((forwarded_for or "").split(",")):
            address = _address(hop)
            if not self.is_trusted(client) or address is None:
                break
            client = str(address)
        return client

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        peer = environ.get("REMOTE_ADDR", "")
        if self.is_trusted(peer):
            scheme = _first(environ.get("HTTP_X_FORWARDED_PROTO")).lower()
            if scheme in SCHEMES:
                environ["wsgi.url_scheme"] = scheme
            host = _first(environ.get("HTTP_X_FORWARDED_HOST"))
            if host:
                environ["HTTP_HOST"] = host
            environ["REMOTE_ADDR"] = self.client_address(peer, environ.get("HTTP_X_FORWARDED_FOR"))
        return self.app(environ, start_response)
