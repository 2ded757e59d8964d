"""A browser stand-in: follows redirects, keeps cookies, and waits on our waiting page.

It waits the two ways a real browser does: with JavaScript (waiting.js
polls the ticket's JSON status, then re-requests the same /authorize URL),
or without (the page's `<meta http-equiv="refresh">` re-requests that URL
until it redirects). Every wait polls with a deadline.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin

import requests

POLL_SECONDS = 0.2
META_REFRESH = re.compile(r"^\s*(\d+)\s*;\s*url\s*=\s*(.+)$", re.IGNORECASE)


class _PageScan(HTMLParser):
    """Collects the waiting page's data-* URLs and its meta refresh (attributes unescaped)."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str | None] = {}
        self.refresh: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "body":
            self.body = found
        elif tag == "meta" and (found.get("http-equiv") or "").lower() == "refresh":
            self.refresh = found.get("content")


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
        scan = _PageScan()
        scan.feed(response.text)
        status, cont = scan.body.get("data-status-url"), scan.body.get("data-continue-url")
        meta = META_REFRESH.match(scan.refresh or "")
        if not (status and cont and meta):
            return None
        return WaitingPage(
            url=response.url,
            status_url=urljoin(response.url, status),
            continue_url=urljoin(response.url, cont),
            refresh_url=urljoin(response.url, meta.group(2).strip().strip("'\"")),
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
