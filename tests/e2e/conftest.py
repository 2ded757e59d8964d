"""Fixtures for the end-to-end tests: a harness that starts real servers and stops them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import free_port

from .browser import Browser
from .proxy import TamperingProxy
from .servers import Apache, NodeRp, Process, Provider


class Harness:
    """Starts servers for one test; everything started is stopped at teardown."""

    def __init__(self, tmp_path: Path, redis_url: str):
        self.tmp_path = tmp_path
        self.redis_url = redis_url
        self._started: list[Any] = []
        self._browsers: list[Browser] = []

    def _track(self, server: Any) -> Any:
        self._started.append(server)
        return server.start()

    @staticmethod
    def port() -> int:
        return free_port()

    def provider(self, rooms: dict, clients: dict) -> Provider:
        return self._track(Provider(self.tmp_path / "provider", self.redis_url, rooms, clients))

    def apache(self, port: int, metadata_url: str, client_id: str, secret: str, **kw) -> Apache:
        workdir = self.tmp_path / f"apache-{port}"
        return self._track(Apache(workdir, port, metadata_url, client_id, secret, **kw))

    def node_rp(self, port: int, issuer: str, client_id: str, secret: str, **kw) -> NodeRp:
        workdir = self.tmp_path / f"node-{port}"
        return self._track(NodeRp(workdir, port, issuer, client_id, secret, **kw))

    def proxy(self, upstream: str) -> TamperingProxy:
        return self._track(TamperingProxy(upstream))

    def browser(self, js: bool = True) -> Browser:
        browser = Browser(js=js)
        self._browsers.append(browser)
        return browser

    def logs(self) -> str:
        parts = [
            f"--- {s.name} ({s.log_path}) ---\n{s.log_tail()}"
            for s in self._started
            if isinstance(s, Process)
        ]
        return "\n".join(parts)

    def close(self) -> None:
        """Clients first, all at once; the provider last, once nobody talks to it."""
        for browser in self._browsers:
            browser.session.close()
        clients = [s for s in reversed(self._started) if not isinstance(s, Provider)]
        for server in clients:
            if isinstance(server, Process):
                server.signal_stop()
        for server in clients:
            server.stop()
        for server in self._started:
            if isinstance(server, Provider):
                server.stop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.e2e_failed = report.failed
    return report


@pytest.fixture
def e2e(request, tmp_path, redis_server, redis_client):
    """A harness on a freshly flushed throwaway Redis; prints server logs if the test failed."""
    harness = Harness(tmp_path, redis_server.url)
    yield harness
    try:
        if getattr(request.node, "e2e_failed", False):
            print(harness.logs())
    finally:
        harness.close()
