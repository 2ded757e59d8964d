"""Real nginx with the shipped cached gate (docs/nginx/waiting-room-*.conf).

Between nginx and the adapter sits a counting proxy: it records every
`/auth/verify` call that reaches the app, so "served from nginx's cache" is
counted, not inferred from timing.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tests.e2e.nginx import (
    PAGE,
    SHOP_ROOM,
    CachedNginx,
    admitted_token,
    end_session,
    nginx_binary,
    shop_adapter,
    started_servers,
)
from tests.helpers import require

pytestmark = pytest.mark.e2e

#: proxy_cache_valid in the shipped gate; nginx counts whole seconds, so an
#: entry lives until its second plus the window has passed.
WINDOW_SECONDS = 5


@dataclass(frozen=True)
class Call:
    authorization: str | None
    cookie: str | None


class CountingProxy:
    """Forwards to the adapter and records each call; `outage` answers 503 as
    the adapter does when Redis is down, without forwarding."""

    def __init__(self, adapter_port: int):
        self.adapter_port = adapter_port
        self.calls: list[Call] = []
        self.outage = False
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                proxy.calls.append(Call(self.headers["Authorization"], self.headers["Cookie"]))
                status, headers, body = proxy.answer(self.path, dict(self.headers))
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                """Quiet: the adapter logs every call it gets."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path: str, headers: dict[str, str]) -> tuple[int, list, bytes]:
        if self.outage:
            return 503, [("Cache-Control", "no-store"), ("Retry-After", "1")], b"{}"
        conn = http.client.HTTPConnection("127.0.0.1", self.adapter_port, timeout=10)
        try:
            kept = {k: v for k, v in headers.items() if k.lower() in ("authorization", "cookie")}
            conn.request("GET", path, headers=kept)
            response = conn.getresponse()
            out = [(k, v) for k, v in response.getheaders() if k.lower() != "content-length"]
            return response.status, out, response.read()
        finally:
            conn.close()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gate(tmp_path, redis_server, redis_client):
    require(nginx_binary() is not None, "nginx is not installed")
    with started_servers() as started:
        adapter = shop_adapter(tmp_path / "adapter", redis_server.url).start()
        started.append(adapter)
        proxy = CountingProxy(adapter.port)
        try:
            nginx = CachedNginx(tmp_path / "nginx", proxy.port).start()
            started.append(nginx)
            yield adapter, proxy, nginx
        finally:
            proxy.stop()


def get(nginx: CachedNginx, token: str | None = None, cookies: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if cookies:
        headers["Cookie"] = cookies
    return requests.get(f"{nginx.url}/", headers=headers, timeout=10)


def test_a_cached_allow_never_reaches_the_app_nor_another_token(gate):
    """A handful of loopback requests, well within token A's 5 s entry."""
    adapter, proxy, nginx = gate
    session_a, token_a = admitted_token(adapter.url, SHOP_ROOM)
    session_b, token_b = admitted_token(adapter.url, SHOP_ROOM)

    first = get(nginx, token_a)
    assert first.status_code == 200 and first.content == PAGE
    assert first.headers["X-Auth-Session"] == session_a
    assert proxy.calls == [Call(f"Bearer {token_a}", "wr_at=")]
    for _ in range(3):
        again = get(nginx, token_a)
        assert again.status_code == 200 and again.headers["X-Auth-Session"] == session_a
        assert again.headers["X-Auth-Subject"] == first.headers["X-Auth-Subject"]
    assert len(proxy.calls) == 1  # answered from nginx's cache

    other = get(nginx, token_b)
    assert other.status_code == 200 and other.headers["X-Auth-Session"] == session_b
    assert len(proxy.calls) == 2

    # The cookie is a key of its own, and only the token cookie reaches the app.
    by_cookie = get(nginx, cookies=f"theme=dark; wr_at={token_b}")
    assert by_cookie.status_code == 200 and by_cookie.headers["X-Auth-Session"] == session_b
    assert proxy.calls[-1] == Call(None, f"wr_at={token_b}")
    assert len(proxy.calls) == 3

    forged = token_a[:-4] + ("AAAA" if not token_a.endswith("AAAA") else "BBBB")
    for _ in range(2):
        refused = get(nginx, forged)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert len(proxy.calls) == 4  # the refusal is cached as well, for its own key
    assert get(nginx).status_code == 401  # no token at all: yet another key
    assert len(proxy.calls) == 5
    assert get(nginx, token_a).headers["X-Auth-Session"] == session_a
    assert len(proxy.calls) == 5


def test_an_ended_session_is_refused_once_the_window_has_passed(gate):
    adapter, proxy, nginx = gate
    session, token = admitted_token(adapter.url, SHOP_ROOM)
    assert get(nginx, token).headers["X-Auth-Session"] == session
    cached_at = time.time()  # nginx stored the decision before answering
    assert len(proxy.calls) == 1

    end_session(adapter.url, token)
    during = get(nginx, token)
    if during.status_code == 200:  # within the window: the cached allow, not the app
        assert during.headers["X-Auth-Session"] == session and len(proxy.calls) == 1
    else:
        assert during.status_code == 401 and len(proxy.calls) == 2

    # Past the entry's whole second plus the window, nginx must ask again.
    time.sleep(max(0.0, cached_at + WINDOW_SECONDS + 1.1 - time.time()))
    after = get(nginx, token)
    assert after.status_code == 401
    assert proxy.calls[-1] == Call(f"Bearer {token}", "wr_at=")


def test_an_outage_answer_is_never_cached(gate):
    adapter, proxy, nginx = gate
    session, token = admitted_token(adapter.url, SHOP_ROOM)
    proxy.outage = True
    assert get(nginx, token).status_code == 500  # auth_request's answer to a 503
    proxy.outage = False
    recovered = get(nginx, token)
    assert recovered.status_code == 200 and recovered.headers["X-Auth-Session"] == session
    assert len(proxy.calls) == 2
