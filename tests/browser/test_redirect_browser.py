"""The redirect integration in real Chromium, against `oidc-adapter serve`, with
the configs docs/integrations.md ships: nginx (tests/e2e/nginx/redirect.conf)
and a WSGI app behind `WaitingRoomGate`.

The site lives on `localhost`, the waiting room on `127.0.0.1`: two sites, as
in production, so every cookie is where it belongs. The operator is the test:
rooms admit nobody by themselves. Every wait is Playwright's, on a condition
with a deadline.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from oidc_adapter.authorizer import Authorizer, SessionCheck, WaitingRoomGate
from tests.e2e.nginx import (
    REDIRECT_TEMPLATE,
    Adapter,
    Nginx,
    admit_next,
    nginx_binary,
    started_servers,
)
from tests.helpers import free_port, require, served

pytestmark = pytest.mark.e2e

SECRET = "redirect-site-secret-0123456789"
#: Room polls run every 2 s; a served ticket continues well within this.
CONTINUES = 20_000
ITEM = b"<!doctype html><title>item</title><h1>The protected item</h1>\n"


@dataclass
class Site:
    """A protected site of room `room` on http://localhost:<port>."""

    room: str
    port: int
    adapter: Adapter
    page_text: str
    #: The site's own access log, if it keeps one (nginx does).
    access_log: Path | None = None
    #: nginx proxies /auth/handoff, so a refused handoff is our page on its domain;
    #: the WSGI gate answers a refusal with a page of its own.
    proxies_handoff: bool = False

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def admit(self) -> None:
        admit_next(self.adapter.url, self.adapter.config["admin_token"], self.room)

    def end_session(self, sid: str) -> None:
        """Early exit, as the site does it: its client credentials and the session id."""
        answer = requests.post(
            f"{self.adapter.url}/api/sessions/end",
            data={"sid": sid},
            auth=(f"site-{self.room}", SECRET),
            timeout=10,
        )
        assert answer.status_code == 200 and answer.json()["ended"] is True, answer.text


NGINX_ROOM, WSGI_ROOM = "nginx-site", "wsgi-site"


@dataclass
class Servers:
    adapter: Adapter
    nginx: Nginx
    wsgi_port: int


@pytest.fixture(scope="module")
def servers(redis_server, tmp_path_factory) -> Iterator[Servers]:
    """The adapter, and nginx in front of its site; each room sends visitors back
    only to its own site (return_origins), which is known once the ports are."""
    require(nginx_binary() is not None, "nginx is not installed")
    workdir = tmp_path_factory.mktemp("redirect")
    adapter = Adapter(workdir / "adapter", redis_server.url, {}, {})
    nginx = Nginx(
        workdir / "nginx", adapter.port, NGINX_ROOM, template=REDIRECT_TEMPLATE, issuer=adapter.url
    )
    found = Servers(adapter, nginx, free_port())
    for room, port in ((NGINX_ROOM, nginx.port), (WSGI_ROOM, found.wsgi_port)):
        origin = f"http://localhost:{port}"
        adapter.config["rooms"][room] = {"admit_per_minute": 0, "return_origins": [origin]}
        adapter.config["clients"][f"site-{room}"] = {
            "secret": SECRET,
            "redirect_uris": [f"{origin}/cb"],
            "room": room,
        }
    with started_servers() as started:
        started.append(adapter.start())
        started.append(nginx.start())
        (nginx.workdir / "site" / "sale").mkdir()
        (nginx.workdir / "site" / "sale" / "item.html").write_bytes(ITEM)
        yield found


@pytest.fixture(scope="module")
def nginx_site(servers) -> Site:
    nginx = servers.nginx
    return Site(
        NGINX_ROOM, nginx.port, servers.adapter, "The protected item", nginx.workdir / "access.log"
    )


def shop_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """The protected app: it shows who came in, on which URL."""
    identity = environ["waiting_room.identity"]
    body = (
        f"<!doctype html><title>shop</title><h1>The protected shop</h1>"
        f"<p id=session>{identity.session}</p><p id=query>{environ['QUERY_STRING']}</p>"
    )
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [body.encode()]


@pytest.fixture(scope="module")
def wsgi_site(servers, redis_server) -> Iterator[Site]:
    """A plain WSGI app behind the gate, served from a thread of this process."""
    issuer = servers.adapter.url
    sessions = SessionCheck.from_redis(redis_server.url)
    authorizer = Authorizer(issuer, rooms=[WSGI_ROOM], sessions=sessions)
    gate = WaitingRoomGate(shop_app, issuer=issuer, room=WSGI_ROOM, authorizer=authorizer)
    with served(gate, servers.wsgi_port):
        yield Site(WSGI_ROOM, servers.wsgi_port, servers.adapter, "The protected shop")


def walk(browser: Any, site: Site, path: str, session_of: Any) -> None:
    """The whole visit, as docs/integrations.md promises it."""
    from playwright.sync_api import expect

    context = browser.new_context()
    try:
        page = context.new_page()
        seen: list[str] = []
        page.on("request", lambda r: seen.append(r.url))
        blocked: list[str] = []
        page.on("console", lambda m: "Content Security Policy" in m.text and blocked.append(m.text))
        wanted = site.url + path

        # 1. Held on our waiting page, on our domain.
        page.goto(wanted)
        assert page.url.startswith(f"{site.adapter.url}/wait/{site.room}?return_to="), page.url
        expect(page.locator("#position")).to_have_text("1")

        # 2. Admitted by the operator: the page continues by itself, back to the
        #    exact URL, query string kept, no token left in it.
        site.admit()
        page.wait_for_url(wanted, timeout=CONTINUES)
        expect(page.locator("h1")).to_have_text(site.page_text)
        assert page.url == wanted and "wr_token" not in page.url
        handoffs = [url for url in seen if "wr_token=" in url]
        assert len(handoffs) == 1 and handoffs[0].startswith(wanted + "&wr_token=")

        # 3. A reload passes the gate with the cookie alone.
        reloaded = page.reload()
        assert reloaded is not None and reloaded.status == 200 and page.url == wanted
        sid = session_of(page, reloaded)

        # 4. The captured handoff URL, used again: refused with a page, not a redirect.
        replay = page.goto(handoffs[0])
        assert replay is not None and replay.status == 403
        assert page.url == handoffs[0]
        expect(page.locator("h1")).to_have_text("This link has expired")
        if site.proxies_handoff:  # our page, on the site's domain, in our style
            expect(page.locator("main.card")).to_have_css("max-width", "576px")

        # 5. Early exit ends access: the next page load is sent to wait again.
        site.end_session(sid)
        page.goto(wanted)
        assert page.url.startswith(f"{site.adapter.url}/wait/{site.room}?"), page.url
        expect(page.locator("#position")).to_be_visible()
        assert blocked == []
    finally:
        context.close()
    # The token reached no log line: not ours, nor the site's nginx's.
    token = handoffs[0].rsplit("wr_token=", 1)[1]
    for log in (site.adapter.log_path, site.access_log):
        if log is not None:
            text = log.read_text()
            assert token not in text and "wr_token=[scrubbed]" in text, log


def test_nginx_site_through_the_waiting_room(browser, nginx_site):
    walk(
        browser,
        nginx_site,
        "/sale/item.html?a=1&b=2&q=x%26y",
        lambda page, response: response.headers["x-auth-session"],
    )


def test_wsgi_site_through_the_waiting_room(browser, wsgi_site):
    walk(
        browser,
        wsgi_site,
        "/orders?a=1&b=2",
        lambda page, response: page.locator("#session").inner_text(),
    )
