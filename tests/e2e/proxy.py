"""A small reverse proxy in front of our provider, to record and to tamper.

The relying party is pointed at the proxy's copy of the discovery document,
whose authorization and token endpoints lead through the proxy; the issuer,
JWKS and userinfo stay the provider's own. Everything else passes through
untouched, so with no tampering switched on a login through it must
succeed: that is the positive control for the negative tests.

Tampering modes, each something a real mix-up or a misbehaving IdP does:
- `swap_client`: the provider is asked (at /authorize and /token) on behalf
  of another registered client, so it issues genuinely signed tokens whose
  `aud` is that other client; only the audience is wrong.
- `iss_override`: the `iss` parameter of the authorization response
  (RFC 9207) names another issuer, as in a mix-up attack.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from tests.helpers import free_port

HOP_BY_HOP = {
    "host",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "content-length",
}


@dataclass
class ClientSwap:
    """Requests made for `victim` are made for `other` instead."""

    victim: str
    other: str
    other_secret: str


@dataclass
class TokenRequest:
    """What one /token call carried, to tell which client authentication was used."""

    basic_client: str | None
    form: dict[str, str] = field(default_factory=dict)


class TamperingProxy:
    def __init__(self, upstream: str):
        parts = urlsplit(upstream)
        self.upstream = upstream
        self.upstream_host = parts.hostname or "localhost"
        self.upstream_port = parts.port or 80
        self.port = free_port()
        self.url = f"http://localhost:{self.port}"
        self.metadata_url = f"{self.url}/.well-known/openid-configuration"
        self.swap_client: ClientSwap | None = None
        self.iss_override: str | None = None
        self.token_requests: list[TokenRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> TamperingProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                proxy.handle(self)

            def do_POST(self) -> None:
                proxy.handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the provider's own access log has every request."""

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- rewriting ---------------------------------------------------------

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP}
        query = parts.query
        if parts.path == "/authorize" and self.swap_client:
            query = self._swap_query(query)
        if parts.path == "/token":
            body, headers = self._token_request(body, headers)
        headers["Host"] = f"{self.upstream_host}:{self.upstream_port}"
        status, out_headers, out_body = self._forward(
            handler.command, urlunsplit(("", "", parts.path, query, "")), headers, body
        )
        if parts.path == "/.well-known/openid-configuration" and status == 200:
            out_body = self._rewrite_metadata(out_body)
        if parts.path == "/authorize" and self.iss_override:
            out_headers = [
                (k, self._override_iss(v) if k.lower() == "location" else v) for k, v in out_headers
            ]
        handler.send_response(status)
        for key, value in out_headers:
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(out_body)))
        handler.end_headers()
        handler.wfile.write(out_body)

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=15)
        try:
            conn.request(method, path, body=body or None, headers=headers)
            response = conn.getresponse()
            data = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
            return response.status, kept, data
        finally:
            conn.close()

    def _rewrite_metadata(self, body: bytes) -> bytes:
        metadata = json.loads(body)
        metadata["authorization_endpoint"] = f"{self.url}/authorize"
        metadata["token_endpoint"] = f"{self.url}/token"
        return json.dumps(metadata).encode()

    def _swap_query(self, query: str) -> str:
        assert self.swap_client is not None
        pairs = [
            (k, self.swap_client.other if k == "client_id" and v == self.swap_client.victim else v)
            for k, v in parse_qsl(query, keep_blank_values=True)
        ]
        return urlencode(pairs)

    def _token_request(self, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        basic_client = None
        if auth.lower().startswith("basic "):
            basic_client = unquote(base64.b64decode(auth[6:]).decode().partition(":")[0])
        self.token_requests.append(TokenRequest(basic_client, form))
        swap = self.swap_client
        if swap is None:
            return body, headers
        if basic_client == swap.victim:
            creds = f"{quote(swap.other, safe='')}:{quote(swap.other_secret, safe='')}"
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            headers["Authorization"] = "Basic " + base64.b64encode(creds.encode()).decode()
        if form.get("client_id") == swap.victim:
            form["client_id"] = swap.other
            if "client_secret" in form:
                form["client_secret"] = swap.other_secret
        return urlencode(form).encode(), headers

    def _override_iss(self, location: str) -> str:
        parts = urlsplit(location)
        pairs = [
            (k, self.iss_override if k == "iss" else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ]
        return urlunsplit(parts._replace(query=urlencode(pairs)))
