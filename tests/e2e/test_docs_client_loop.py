"""docs/integrations.md's client loop for apps, run as written in node against a
served app: it takes a ticket, polls while it waits, and comes out with an
access token for its room once the operator admits it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from oidc_adapter.authorizer import Authorizer, LocalKeys

from .. import oidc_fixtures as fx
from ..helpers import doc_block, served
from .servers import require_node

pytestmark = pytest.mark.e2e
make_oidc = fx.make_oidc  # fixture

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


@pytest.fixture
def app(make_oidc) -> Iterator[tuple[fx.Oidc, str]]:
    rooms = {**fx.default_rooms(), ROOM: {"admit_per_minute": 0, "mode": "queue_all"}}
    oidc = make_oidc(rooms=rooms)
    with served(oidc.app) as base:
        yield oidc, base


def test_the_guides_client_loop_waits_then_gets_a_token(app, tmp_path):
    node = require_node()
    oidc, base = app
    script = tmp_path / "client.mjs"
    loop = doc_block("docs/integrations.md", "js", "waitForAccess").replace(
        '"https://wait.example.com"', json.dumps(base)
    )
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
