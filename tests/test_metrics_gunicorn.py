"""/metrics under `oidc-adapter serve`: gunicorn with two workers counting in one
PROMETHEUS_MULTIPROC_DIR, the master serving `metrics_bind`, JSON request logs;
and the master's parts on their own (the internal server, the metrics folder)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from oidc_adapter.gunicorn_app import metrics_folder, metrics_server
from tests.e2e.servers import Provider, wait_until
from tests.helpers import free_port, require

from .conftest import make_config
from .test_metrics import requests_total, samples

TOKEN = "metrics-token-0123456789abcdef"
ROOMS = {"shop": {"admit_per_minute": 60}}
HEALTH = ("/healthz", "200")


def worker_pids(folder: Path) -> set[int]:
    """Workers that counted a request: each has its own counter file."""
    return {
        int(m[1]) for f in folder.glob("counter_*.db") if (m := re.search(r"_(\d+)\.db", f.name))
    }


def health_total(text: str) -> float:
    return requests_total(samples(text), *HEALTH)


@pytest.fixture
def provider(tmp_path, redis_server):
    started: list[Provider] = []

    def start(**config) -> Provider:
        server = Provider(tmp_path / "provider", redis_server.url, ROOMS, {})
        server.config.update(config)
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


def test_every_worker_answers_for_all_and_a_dead_workers_counts_stay(
    provider, tmp_path, monkeypatch
):
    folder = tmp_path / "metrics"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))  # the server's, as given
    server = provider()
    sent = 0

    def both_workers_counted() -> bool:
        nonlocal sent
        assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
        sent += 1
        return len(worker_pids(folder)) >= 2

    wait_until(both_workers_counted, 30, "requests served by both workers")
    # Whichever worker answers the scrape, it reports both workers' requests.
    for _ in range(4):
        assert health_total(requests.get(f"{server.url}/metrics", timeout=5).text) == sent
    victim = min(worker_pids(folder))
    os.kill(victim, signal.SIGKILL)
    # Reaped by the master (which calls child_exit then), not merely dead.
    wait_until(lambda: not Path(f"/proc/{victim}").exists(), 10, "the master to reap the worker")
    assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
    assert health_total(requests.get(f"{server.url}/metrics", timeout=5).text) == sent + 1


def test_metrics_bind_serves_the_master_with_a_token_and_logs_are_json(provider):
    port = free_port()
    server = provider(metrics_bind=f"127.0.0.1:{port}", metrics_token=TOKEN, log_format="json")
    internal = f"http://127.0.0.1:{port}/metrics"
    for _ in range(6):
        requests.get(f"{server.url}/healthz", timeout=5)
    assert requests.get(f"{server.url}/metrics", timeout=5).status_code == 404
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789abcd"}):
        refused = requests.get(internal, headers=headers, timeout=5)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    answer = requests.get(internal, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain")
    found = samples(answer.text)
    assert health_total(answer.text) == 6
    assert found[("waiting_room_admit_per_minute", frozenset({("room", "shop")}))] == 60
    assert requests.get(f"http://127.0.0.1:{port}/other", timeout=5).status_code == 404

    def logged() -> list[dict]:
        text = server.log_path.read_text(errors="replace")
        lines = [json.loads(x) for x in text.splitlines() if x.startswith('{"time"')]
        return [x for x in lines if x["route"] == "/healthz"]

    health_lines = wait_until(lambda: len(logged()) >= 6 and logged(), 10, "six JSON lines")
    assert all(x["status"] == 200 and x["client"] == "127.0.0.1" for x in health_lines)
    # gunicorn's own text access log is off: the JSON line replaces it.
    assert '"GET /healthz HTTP/1.1"' not in server.log_path.read_text(errors="replace")


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]"])
def test_the_internal_metrics_server_binds_ipv4_and_ipv6(host, redis_server, redis_client):
    if host.startswith("["):
        require(_ipv6_loopback(), "no IPv6 loopback on this machine")
    config = make_config(redis_server.url, metrics_bind=f"{host}:{free_port()}")
    with ExitStack() as cleanup:
        server = metrics_server(config, cleanup)
        assert server is not None
        url = f"http://{host}:{server.server_address[1]}/metrics"
        answer = requests.get(url, timeout=5)
        assert answer.status_code == 200
        assert ("waiting_room_waiting", frozenset({("room", "shop")})) in samples(answer.text)
    with pytest.raises(requests.ConnectionError):  # closed with the server
        requests.get(url, timeout=5)


def test_a_metrics_folder_is_made_and_removed_unless_given(tmp_path, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with ExitStack() as cleanup:
        made = metrics_folder(cleanup)
        assert made.is_dir() and os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(made)
    assert not made.exists() and "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    given = tmp_path / "given"
    given.mkdir()
    (given / "counter_1.db").write_bytes(b"a previous run")
    (given / "notes.txt").write_text("not ours")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(given))
    with ExitStack() as cleanup:
        assert metrics_folder(cleanup) == given
    assert sorted(p.name for p in given.iterdir()) == ["notes.txt"]
