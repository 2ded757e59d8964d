"""A seeded fuzz of every endpoint: whatever a client sends, the answer is never
a 5xx and the server logs no traceback (issue 10).

Redis is up throughout, so even a 503 is a finding. Each endpoint group gets
its own app; a fixed sweep sends every known kind of hostile value in every
field, credential and body, then random requests follow, drawn from a stream
seeded from FUZZ_SEED and the group's name. A failure names both, and running
the same test again replays the same requests. Set FUZZ_SEED to explore.
"""

from __future__ import annotations

import logging
import os
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import chain, product
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

from oidc_adapter.oidc.authorization_request import SINGLE_VALUED
from oidc_adapter.room.settings import RoomSettings
from oidc_adapter.web.ticket_cookie import cookie_name

from . import oidc_fixtures as fx
from .fuzz_inputs import (
    HOSTILE_AUTHORIZATIONS,
    HOSTILE_BODIES,
    HOSTILE_VALUES,
    METHODS,
    Junk,
    as_form,
)
from .oidc_fixtures import REDIRECT, SECRET, Oidc, admin, basic

make_oidc = fx.make_oidc  # a fixture

SEED = int(os.environ.get("FUZZ_SEED", "20251010"))
REQUESTS_PER_TARGET = 250
#: Shown per finding, so a report stays readable when a value is 20 KB long.
SHOWN = 160

ADMIN_ACTIONS = ("pause", "resume", "close", "admit", "revoke", "compact", "reset")
CLIENT_FIELDS = ("client_id", "client_secret")
STATIC_FILES = ("waiting.css", "waiting.js", "extra.css", "../../../etc/passwd", "x/../y")


@dataclass
class World:
    """Real values to start a request from: a request that is almost valid gets
    past the first check and into the code behind it."""

    oidc: Oidc
    ticket: str = ""
    ticket_secret: str = ""
    access_token: str = ""
    sid: str = ""
    #: For the baselines' own choices; seeded, so they replay too.
    rng: random.Random = field(default_factory=lambda: random.Random(f"{SEED}/world"))

    def refresh_ticket(self) -> None:
        taken = self.oidc.browser.post("/api/rooms/shop/tickets").json
        self.ticket, self.ticket_secret = taken["ticket"], taken["ticket_secret"]

    def fresh_code(self) -> str:
        return self.oidc.code()[0]

    def credentials(self) -> list[str]:
        return [
            admin()["Authorization"],
            basic()["Authorization"],
            f"Bearer {self.access_token}",
            f"Ticket {self.ticket_secret}",
        ]

    def near(self) -> list[str]:
        return [
            "shop",
            "alb",
            "code",
            "openid",
            "S256",
            "none",
            "authorization_code",
            REDIRECT,
            SECRET,
            self.ticket,
            self.ticket_secret,
            self.access_token,
            self.sid,
        ]


Baseline = Callable[[World], tuple[dict[str, Any], dict[str, str]]]


def _nothing(world: World) -> tuple[dict[str, Any], dict[str, str]]:
    return {}, {}


def _authorize(world: World) -> tuple[dict[str, Any], dict[str, str]]:
    return world.oidc.authorize_params(), {}


def _client_auth(world: World, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """client_secret_basic or client_secret_post, each half of the time."""
    if world.rng.random() < 0.5:
        return params, basic()
    return {**params, "client_id": "alb", "client_secret": SECRET}, {}


def _token(world: World) -> tuple[dict[str, Any], dict[str, str]]:
    params = {"grant_type": "authorization_code", "code": world.fresh_code()}
    return _client_auth(world, {**params, "redirect_uri": REDIRECT})


def _bearer(world: World) -> tuple[dict[str, Any], dict[str, str]]:
    return {"room": "shop"}, {"Authorization": f"Bearer {world.access_token}"}


def _ticket_owner(world: World) -> tuple[dict[str, Any], dict[str, str]]:
    world.refresh_ticket()
    return {"ticket_secret": world.ticket_secret}, {}


def _end_session(world: World) -> tuple[dict[str, Any], dict[str, str]]:
    return _client_auth(world, {"sid": world.sid})


def _admin(world: World) -> tuple[dict[str, Any], dict[str, str]]:
    return {}, admin()


def _admin_settings(world: World) -> tuple[dict[str, Any], dict[str, str]]:
    return {"admit_per_minute": 600, "mode": "auto"}, admin()


def _admin_action(world: World) -> tuple[dict[str, Any], dict[str, str]]:
    body = {"count": 1, "ticket": world.ticket, "older_than_seconds": 0, "confirm": "shop"}
    return body, admin()


def _wait(world: World) -> tuple[dict[str, Any], dict[str, str]]:
    return {"return_to": f"{fx.SITE}/sale?a=1&b=2"}, {}


def _handoff(world: World) -> tuple[dict[str, Any], dict[str, str]]:
    """A fresh handoff token each time (a spent one only reaches the replay check),
    for the world's admitted browser: no new place in line per request."""
    back = world.oidc.browser.get("/wait/shop", query_string=_wait(world)[0])
    token = parse_qs(urlsplit(back.headers["Location"]).query)["wr_token"][0]
    return {"wr_token": token}, {}


@dataclass(frozen=True)
class Target:
    """One endpoint group: its methods, path templates, parameter names, and
    how to build a valid request to mutate."""

    name: str
    methods: tuple[str, ...]
    paths: tuple[str, ...]
    fields: tuple[str, ...] = ()
    baseline: Baseline = _nothing


TARGETS = (
    Target(
        "authorize",
        ("GET", "POST"),
        ("/authorize",),
        SINGLE_VALUED + ("request", "request_uri", "login_hint", "id_token_hint", "claims"),
        _authorize,
    ),
    Target(
        "token",
        ("POST",),
        ("/token",),
        ("grant_type", "code", "redirect_uri", "client_id", "client_secret", "code_verifier")
        + ("refresh_token", "scope"),
        _token,
    ),
    Target("userinfo", ("GET", "POST"), ("/userinfo",), ("access_token",), _bearer),
    Target(
        "discovery",
        ("GET",),
        ("/.well-known/openid-configuration", "/.well-known/jwks.json"),
    ),
    Target("room_state", ("GET",), ("/api/rooms/{room}",)),
    Target("take_ticket", ("POST",), ("/api/rooms/{room}/tickets",), ("ticket",)),
    Target("ticket_status", ("GET",), ("/api/rooms/{room}/tickets/{ticket}",)),
    Target(
        "leave_line",
        ("DELETE",),
        ("/api/rooms/{room}/tickets/{ticket}",),
        ("ticket_secret",),
        _ticket_owner,
    ),
    Target(
        "ticket_token",
        ("POST",),
        ("/api/rooms/{room}/tickets/{ticket}/token",),
        ("ticket_secret",),
        _ticket_owner,
    ),
    Target(
        "end_session",
        ("POST",),
        ("/api/sessions/end",),
        ("token", "sid", "client_id", "client_secret"),
        _end_session,
    ),
    Target("verify", ("GET", "POST", "HEAD"), ("/auth/verify",), ("room", "cookie"), _bearer),
    Target(
        "admin_settings",
        ("PATCH", "POST"),
        ("/admin/rooms/{room}/settings",),
        tuple(RoomSettings.model_fields),
        _admin_settings,
    ),
    Target("admin_read", ("GET",), ("/admin/rooms", "/admin/rooms/{room}"), (), _admin),
    Target(
        "admin_actions",
        ("POST",),
        ("/admin/rooms/{room}/{action}",),
        ("count", "ticket", "older_than_seconds", "confirm"),
        _admin_action,
    ),
    Target("health", ("GET",), ("/healthz", "/readyz", "/metrics")),
    Target(
        "static",
        ("GET",),
        (
            "/static/waiting/{file}",
            "/static/rooms/{room}/theme.css",
            "/static/rooms/{room}/logo",
            "/static/rooms/{room}/files/{file}",
        ),
    ),
    Target("wait", ("GET", "HEAD"), ("/wait/{room}",), ("return_to",), _wait),
    Target("handoff", ("GET", "HEAD"), ("/auth/handoff",), ("wr_token", "return_to"), _handoff),
)


@dataclass
class Shot:
    """One request, and how to show it in a report."""

    method: str
    path: str
    headers: dict[str, str]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def describe(self, number: int) -> str:
        parts = [
            f"#{number} {self.method} {self.path}"[:SHOWN],
            f"headers={self.headers!r:.{SHOWN}}",
        ]
        parts += [f"{key}={value!r:.{SHOWN}}" for key, value in self.kwargs.items()]
        return " ".join(parts)


def _path(junk: Junk, world: World, template: str, odds: float) -> str:
    return template.format(
        room=junk.path_segment("shop", odds=odds),
        ticket=junk.path_segment(world.ticket, "A" * 22, odds=odds),
        file=junk.path_segment(*STATIC_FILES, odds=odds),
        action=junk.path_segment(*ADMIN_ACTIONS, odds=odds),
    )


Params = dict[str, Any]
Mutation = Callable[[Junk, World, Target, Shot, Params], None]


def _set_field(junk: Junk, world: World, target: Target, shot: Shot, params: Params) -> None:
    known = target.fields and junk.chance(0.8)
    params[junk.pick(target.fields) if known else junk.text()[:40]] = junk.value()


def _drop_field(junk: Junk, world: World, target: Target, shot: Shot, params: Params) -> None:
    if params:
        del params[junk.pick(list(params))]


def _authorization(junk: Junk, world: World, target: Target, shot: Shot, params: Params) -> None:
    shot.headers["Authorization"] = junk.authorization(world.credentials())


def _cookie(junk: Junk, world: World, target: Target, shot: Shot, params: Params) -> None:
    names = [cookie_name("shop", True), cookie_name("shop", False), "session"]
    shot.headers["Cookie"] = junk.cookie(names)


def _headers(junk: Junk, world: World, target: Target, shot: Shot, params: Params) -> None:
    shot.headers.update(junk.extra_headers())


def _method(junk: Junk, world: World, target: Target, shot: Shot, params: Params) -> None:
    shot.method = junk.pick(METHODS)


#: Weighted by repetition; the last one only for wild requests, since a
#: refused method never reaches the endpoint's code.
MUTATIONS: tuple[Mutation, ...] = (
    *(_set_field,) * 4,
    _drop_field,
    *(_authorization,) * 2,
    _cookie,
    _headers,
    _method,
)


def make_shot(junk: Junk, world: World, target: Target) -> Shot:
    """Half are focused: a valid request with one hostile change, which gets
    past the first checks into the code behind them. The other half are wild:
    an empty or valid request changed two to five times, path included."""
    focused = junk.chance(0.5)
    params, headers = target.baseline(world) if focused or junk.chance(0.5) else ({}, {})
    path = _path(junk, world, junk.pick(target.paths), odds=1.0 if focused else 0.8)
    shot = Shot(junk.pick(target.methods), path, headers)
    for _ in range(1 if focused else junk.rng.randint(2, 5)):
        junk.pick(MUTATIONS[:-1] if focused else MUTATIONS)(junk, world, target, shot, params)
    in_query = shot.method in ("GET", "HEAD") or junk.chance(0.15)
    if in_query:
        shot.kwargs["query_string"] = junk.form(params) if focused else junk.query(params)
    elif focused:  # the parameters as a client would send them: JSON or a form
        shot.kwargs.update({"json": params} if junk.chance(0.5) else {"data": junk.form(params)})
    if (not in_query and not focused) or (in_query and junk.chance(0.2)):
        body, body_headers = junk.body(params)
        shot.kwargs.update(body)
        shot.headers.update(body_headers)
    return shot


def random_shots(junk: Junk, world: World, target: Target, count: int) -> Iterator[Shot]:
    for _ in range(count):
        yield make_shot(junk, world, target)


def _deliveries(target: Target) -> list[tuple[str, str]]:
    """Each method of the endpoint with each way its parameters can travel."""
    out: list[tuple[str, str]] = []
    for method in target.methods:
        bodies = ("query",) if method in ("GET", "HEAD") else ("json", "form")
        out += [(method, body) for body in bodies]
    return out


def _valid_shot(
    world: World, number: int, delivery: tuple[str, str], target: Target, params: dict[str, Any]
) -> Shot:
    """Valid path values, the endpoint's paths in turn; no headers yet."""
    method, body = delivery
    template = target.paths[number % len(target.paths)]
    action = ADMIN_ACTIONS[number % len(ADMIN_ACTIONS)]
    path = template.format(room="shop", ticket=world.ticket, file=STATIC_FILES[0], action=action)
    shot = Shot(method, path, {})
    if body == "json":
        shot.kwargs["json"] = params
    else:
        shot.kwargs["query_string" if body == "query" else "data"] = as_form(params)
    return shot


def sweep_shots(world: World, target: Target) -> Iterator[Shot]:
    """Each hostile value once in each field, each way it can travel, then each
    hostile credential and body, all in otherwise valid requests: the known
    kinds of trouble are sent every run, not only when the dice allow."""
    deliveries = _deliveries(target)
    cases = product(target.fields, HOSTILE_VALUES, deliveries)
    for number, (name, value, delivery) in enumerate(cases):
        params, headers = target.baseline(world)
        if name in CLIENT_FIELDS:  # then the client's credentials travel in the body
            params.update(client_id="alb", client_secret=SECRET)
            headers.pop("Authorization", None)
        shot = _valid_shot(world, number, delivery, target, {**params, name: value})
        shot.headers.update(headers)
        yield shot
    for number, authorization in enumerate(HOSTILE_AUTHORIZATIONS):
        params, headers = target.baseline(world)
        shot = _valid_shot(world, number, deliveries[number % len(deliveries)], target, params)
        shot.headers.update(headers, Authorization=authorization)
        yield shot
    for number, (raw, content_type) in enumerate(HOSTILE_BODIES):
        params, headers = target.baseline(world)
        method = next((m for m in target.methods if m not in ("GET", "HEAD")), "POST")
        shot = _valid_shot(world, number, (method, "query"), target, params)
        shot.headers.update(headers)
        shot.kwargs.update(data=raw, content_type=content_type)
        yield shot


def fire(
    client: FlaskClient, shot: Shot, caplog: pytest.LogCaptureFixture
) -> tuple[int, str | None]:
    """The status of the answer to `shot`, and what is wrong with it (None: nothing)."""
    logged = len(caplog.records)
    try:
        response = client.open(shot.path, method=shot.method, headers=shot.headers, **shot.kwargs)
    except Exception as exc:  # escaped every error handler: a 500 from a real server
        return 500, f"raised {exc!r:.{SHOWN}}"
    status, data = response.status_code, response.get_data()
    response.close()
    errors = [r for r in caplog.records[logged:] if r.levelno >= logging.ERROR or r.exc_info]
    if status < 500 and b"Traceback" not in data and not errors:
        return status, None
    logs = "; ".join(f"{r.getMessage()} {r.exc_info and r.exc_info[1]!r}" for r in errors)
    return status, f"status {status} {data[:SHOWN]!r}, logged: {logs[:SHOWN] or '-'}"


def build_world(make_oidc: Callable[..., Oidc], tmp_path: Path) -> World:
    """Room `shop` with a logo, colours and its own static files, so the
    branding routes serve something; a logged-in user with a live session."""
    (tmp_path / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    (tmp_path / "templates" / "static").mkdir(parents=True)
    (tmp_path / "templates" / "static" / "extra.css").write_text("h1{color:red}")
    rooms = fx.default_rooms()
    rooms["shop"].update(
        logo=str(tmp_path / "logo.svg"),
        brand_color="#7A1FA2",
        template_dir=str(tmp_path / "templates"),
    )
    world = World(make_oidc(rooms=rooms))
    tokens, _ = world.oidc.login()
    world.access_token = tokens["access_token"]
    world.sid = world.oidc.decode(world.access_token).claims["sid"]
    world.refresh_ticket()
    return world


def run_fuzz(
    world: World, target: Target, caplog: pytest.LogCaptureFixture, count: int
) -> tuple[list[str], Counter[int]]:
    """Every finding, each with the request that caused it, and the statuses seen."""
    junk = Junk(random.Random(f"{SEED}/{target.name}"), world.near())
    client = world.oidc.app.test_client(use_cookies=False)
    findings: list[str] = []
    statuses: Counter[int] = Counter()
    shots = chain(sweep_shots(world, target), random_shots(junk, world, target, count))
    for number, shot in enumerate(shots):
        status, problem = fire(client, shot, caplog)
        statuses[status] += 1
        if problem:
            findings.append(f"{shot.describe(number)}\n    -> {problem}")
    return findings, statuses


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_no_input_gets_a_5xx_or_a_traceback(make_oidc, tmp_path, caplog, target):
    print(f"fuzz seed: FUZZ_SEED={SEED}, target {target.name}")  # shown when it fails
    world = build_world(make_oidc, tmp_path)
    caplog.set_level(logging.WARNING)
    findings, statuses = run_fuzz(world, target, caplog, REQUESTS_PER_TARGET)
    print(f"{sum(statuses.values())} requests, statuses {sorted(statuses.items())}")
    assert not findings, (
        f"FUZZ_SEED={SEED} target={target.name}: {len(findings)} of "
        f"{sum(statuses.values())} requests failed:\n" + "\n".join(findings[:15])
    )
    # The fuzz must reach the endpoint's own code, not only the router's refusals.
    assert any(200 <= s < 400 for s in statuses), statuses
    refused = any(400 <= s < 500 and s not in (404, 405, 413) for s in statuses)
    assert refused or not target.fields, statuses


def test_the_oracle_reports_an_unhandled_error(make_oidc, caplog):
    """A fuzz that could not see a 500 would pass for nothing."""
    app = make_oidc().app

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("deliberate")

    caplog.set_level(logging.WARNING)
    client = app.test_client()
    status, problem = fire(client, Shot("GET", "/boom", {}), caplog)
    assert status == 500 and problem is not None
    assert "RuntimeError('deliberate')" in problem
    assert fire(client, Shot("GET", "/healthz", {}), caplog) == (200, None)
