"""docs/integrations.md's client loop for apps, run as written in node against a
served app: it takes a ticket, polls while it waits, and comes out with an
access token for its room once the operator admits it."""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from oidc_adapter.authorizer import Authorizer, LocalKeys

from .. import oidc_fixtures as fx
from .servers import require_node

pytestmark = pytest.mark.e2e
make_oidc = fx.make_oidc  # fixture

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"
ROOM = "line"
#: Seconds the loop has after the admission: one poll period (at most 5 s) and the token.
FINISHES = 30
#: Browsers have localStorage; node does not. The loop keeps its ticket there.
LOCAL_STORAGE = """
const stored = new Map();
globalThis.localStorage = {
  getItem: (k) => (stored.has(k) ? stored.get(k) : null),
  setItem: (k, v) => stored.set(k, String(v)),
  removeItem: (k) => stored.delete(k),
};
"""
RUN = """
const token = await waitForAccess((position, wait) =>
  console.log(JSON.stringify({ position, wait })));
console.log(JSON.stringify({ token }));
"""


def client_loop() -> str:
    (loop,) = (
        b for b in re.findall(r"```js\n(.*?)```", GUIDE.read_text(), re.S) if "waitForAccess" in b
    )
    return loop


@pytest.fixture
def served(make_oidc) -> Iterator[tuple[fx.Oidc, str]]:
    rooms = {**fx.default_rooms(), ROOM: {"admit_per_minute": 0, "mode": "queue_all"}}
    oidc = make_oidc(rooms=rooms)
    httpd = make_server("127.0.0.1", 0, oidc.app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield oidc, f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join(timeout=10)


def test_the_guides_client_loop_waits_then_gets_a_token(served, tmp_path):
    node = require_node()
    oidc, base = served
    script = tmp_path / "client.mjs"
    loop = client_loop().replace('"https://wait.example.com"', json.dumps(base))
    script.write_text(LOCAL_STORAGE + loop.replace('ROOM = "shop"', f'ROOM = "{ROOM}"') + RUN)
    errors = tmp_path / "client.err"
    with errors.open("w") as err:
        proc = subprocess.Popen(  # noqa: S603
            [node, str(script)], stdout=subprocess.PIPE, stderr=err, text=True
        )
    try:
        waiting = json.loads(proc.stdout.readline() or "null")
        assert waiting and waiting["position"] == 1, errors.read_text()
        engine = oidc.app.extensions["waiting_room"].engine
        assert engine.admit(ROOM, 1)[1] == 1
        out, _ = proc.communicate(timeout=FINISHES)  # the loop returns, the script ends
        done = json.loads(out.splitlines()[-1] if out else "null")
        assert done and "token" in done, errors.read_text()
    finally:
        proc.kill()
        proc.wait()
    keys = LocalKeys(oidc.app.extensions["waiting_room"].provider.tokens.keys.public_jwks)
    identity = Authorizer(fx.ISSUER, rooms=[ROOM], keys=keys).verify(done["token"]["access_token"])
    assert identity.room == ROOM
