"""The README's first command: `oidc-adapter demo` serves a protected site whose
visitors land on our waiting page (embedded Redis, a dev key, nothing else)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import requests

from .helpers import free_port

DEADLINE_SECONDS = 60


def wait_for(url: str, proc: subprocess.Popen) -> requests.Response:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        assert proc.poll() is None, f"the demo exited with {proc.returncode}"
        try:
            return requests.get(url, timeout=2, allow_redirects=False)
        except requests.ConnectionError:
            assert time.monotonic() < deadline, f"{url} never answered"
            time.sleep(0.2)  # polling a condition with a deadline, not a stand-in for sync


def read_banner(proc: subprocess.Popen) -> str:
    """The demo's output up to the banner's last line (the process is alive, so
    it comes: the banner is printed once the server starts)."""
    seen = []
    while not seen or "Admin token:" not in seen[-1]:
        line = proc.stdout.readline().decode()
        assert line, "the demo ended without printing its banner"
        seen.append(line)
    return "".join(seen)


def operator_signs_in_to_the_printed_dashboard(proc: subprocess.Popen, port: int) -> None:
    banner = read_banner(proc)
    dashboard = re.search(r"Operator dashboard:\s+(\S+)", banner).group(1)
    token = re.search(r"Admin token:\s+(\S+)", banner).group(1)
    assert dashboard == f"http://localhost:{port}/admin/"
    operator = requests.Session()
    nonce = re.search(r'name="csrf" value="([^"]+)"', operator.get(dashboard, timeout=5).text)
    signed = operator.post(
        f"{dashboard}signin", data={"token": token, "csrf": nonce.group(1)}, timeout=5
    )
    assert signed.status_code == 200 and 'data-room="demo"' in signed.text


def test_the_demo_holds_a_visitor_of_its_site_on_the_waiting_page(tmp_path):
    port = free_port(2)  # the IdP on P, the site on P + 1
    command = "from oidc_adapter.cli import main; main()"
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", command, "demo", "--port", str(port), "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert wait_for(f"http://localhost:{port}/readyz", proc).status_code == 200
        for _ in range(3):  # people ahead, so the visitor cannot be let in at once
            taken = requests.post(f"http://localhost:{port}/api/rooms/demo/tickets", timeout=5)
            assert taken.status_code == 201
        browser = requests.Session()
        start = wait_for(f"http://localhost:{port + 1}/", proc)
        assert start.status_code == 302 and start.headers["Location"].endswith("/login")
        page = browser.get(f"http://localhost:{port + 1}/login", timeout=10)
        assert page.url.startswith(f"http://localhost:{port}/authorize?")
        assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
        assert "Demo sale: you are in line" in page.text
        # Opened by its address instead: sent to the registered name first.
        by_address = requests.get(
            f"http://127.0.0.1:{port + 1}/login?x=1", allow_redirects=False, timeout=5
        )
        assert by_address.headers["Location"] == f"http://localhost:{port + 1}/login?x=1"
        other = requests.Session().get(f"http://127.0.0.1:{port + 1}/", timeout=10)
        assert other.url.startswith(f"http://localhost:{port}/authorize?")
        assert other.status_code == 200 and "Demo sale: you are in line" in other.text
        room = browser.get(f"http://localhost:{port}/api/rooms/demo", timeout=5).json()
        assert room["mode"] == "queue_all" and room["last_ticket"] >= 1
        operator_signs_in_to_the_printed_dashboard(proc, port)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
