"""A browser stand-in: follows redirects, keeps cookies, and waits on our waiting page.

It waits the two ways a real browser does: with JavaScript (waiting.js
polls the ticket's JSON status, then re-requests the same /authorize URL),
or without (the page's `<meta http-equiv="refresh">` re-requests that URL
until it redirects). Every wait polls with a deadline.
"""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass
from urllib.parse import urljoin

import requests

POLL_SECONDS = 0.2
STATUS_URL = re.compile(r'data-status-url="([^"]+)"')
CONTINUE_URL = re.compile(r'data-continue-url="([^"]+)"')
META_REFRESH = re.compile(r'<meta http-equiv="refresh" content="(\d+);url=([^"]+)"')


@dataclass(frozen=True)
class WaitingPage:
    url: str
    status_url: str
    continue_url: str
    refresh_url: str
    refresh_seconds: int


class Browser:
    def __init__(self, js: bool = True):
        self.js = js
        self.session = requests.Session()
        self.session.headers.update(
            {
                "User-Agent": "oidc-waiting-room-e2e/1.0",
                "Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
            }
        )
        #: Every response seen, redirects included, in order.
        self.trail: list[requests.Response] = []

    def get(self, url: str) -> requests.Response:
        response = self.session.get(url, timeout=15, allow_redirects=True)
        self.trail += [*response.history, response]
        return response

    @staticmethod
    def waiting_page(response: requests.Response) -> WaitingPage | None:
        if response.status_code != 200 or "text/html" not in response.headers.get(
            "Content-Type", ""
        ):
            return None
        status, cont, meta = (
            p.search(response.text) for p in (STATUS_URL, CONTINUE_URL, META_REFRESH)
        )
        if not (status and cont and meta):
            return None
        return WaitingPage(
            url=response.url,
            status_url=urljoin(response.url, html.unescape(status.group(1))),
            continue_url=urljoin(response.url, html.unescape(cont.group(1))),
            refresh_url=urljoin(response.url, html.unescape(meta.group(2))),
            refresh_seconds=int(meta.group(1)),
        )

    def ticket(self, page: WaitingPage) -> dict:
        """The ticket status JSON the page's script polls (also a heartbeat)."""
        response = self.session.get(page.status_url, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def open(self, url: str, deadline: float = 30.0) -> requests.Response:
        return self.finish(self.get(url), deadline)

    def finish(self, response: requests.Response, deadline: float = 30.0) -> requests.Response:
        """Wait out any waiting page until the login continues; return the final page."""
        end = time.monotonic() + deadline
        while (page := self.waiting_page(response)) is not None:
            assert page.refresh_url == page.continue_url, "meta refresh and script disagree"
            if self.js:
                while self.ticket(page)["state"] == "waiting":
                    self._pause(end)
                response = self.get(page.continue_url)
            else:
                self._pause(end)
                response = self.get(page.refresh_url)
        return response

    @staticmethod
    def _pause(end: float) -> None:
        if time.monotonic() > end:
            raise AssertionError("still on the waiting page at the deadline")
        time.sleep(POLL_SECONDS)
