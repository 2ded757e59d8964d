"""The waiting page is rendered once per look and filled in per request
(oidc_adapter/web/cut_pages.py): the result must be the page Jinja renders
for that request, a look must never carry one visitor's values to another,
and a template that does more than print a per-request value is rendered per
request instead."""

from __future__ import annotations

import json
import re

import pytest
from flask import Flask
from jinja2 import DictLoader

from oidc_adapter.room.states import WAITING
from oidc_adapter.services import services
from oidc_adapter.web import cut_pages, pages

from . import oidc_fixtures as fx

make_oidc = fx.make_oidc  # fixture

HELD = {"admit_per_minute": 0, "max_active": 0}
EVIL = "\"'><script>alert(1)</script>&"


def page_of(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def custom_room(tmp_path, body: str) -> dict:
    folder = tmp_path / "custom"
    folder.mkdir()
    (folder / "waiting.html").write_text(
        '{% extends "layout.html" %}{% block main %}' + body + "{% endblock %}"
    )
    return {"shop": {**HELD, "template_dir": str(folder)}}


def _render_both(app, lang: str, pause: bool, evil: str) -> tuple[str, str]:
    """The built-in waiting page, cut and filled, and rendered in full by Jinja."""
    query = f"/authorize?state={evil}"
    with app.test_request_context(query, headers={"Accept-Language": lang}):
        svc = services()
        room = svc.config.rooms["shop"]
        view = svc.engine.take("shop", None)
        assert view.state == WAITING
        if pause:
            svc.engine.configure("shop", {"mode": "paused"})
            view = svc.engine.status("shop", view.ticket)
        status_url = "/api/rooms/shop/tickets/" + view.ticket
        app.extensions.pop("cut_pages", None)
        cut = pages.waiting_page(view, room, query, status_url).get_data(as_text=True)
        looks = app.extensions["cut_pages"]
        assert all(look is not cut_pages.PER_REQUEST and look.slots for look in looks.values())
        looks.clear()
        real_cut, cut_pages._cut = cut_pages._cut, _refuse
        try:
            full = pages.waiting_page(view, room, query, status_url).get_data(as_text=True)
        finally:
            cut_pages._cut = real_cut
        assert list(looks.values()) == [cut_pages.PER_REQUEST]
    return cut, full


def _refuse(html: str) -> cut_pages.Look:
    raise cut_pages.PerRequestValue("forced")


@pytest.mark.parametrize(
    ("lang", "ahead", "pause"),
    [("en", 0, False), ("en", 1, False), ("de", 1234, False), ("fr", 3, True)],
)
def test_the_filled_page_is_the_page_jinja_renders(make_oidc, lang, ahead, pause):
    oidc = make_oidc(rooms={"shop": {**HELD, "title": EVIL, "message": EVIL}})
    engine = oidc.app.extensions["waiting_room"].engine
    for _ in range(ahead):
        engine.take("shop", None)
    cut, full = _render_both(oidc.app, lang, pause, EVIL)
    assert cut == full
    assert "<script>" not in cut
    client = json.loads(re.search(r"data-wr='([^']+)'", cut).group(1))
    assert client["ahead"] == ahead and client["lang"] == lang


def test_a_look_is_shared_but_each_visitor_sees_only_their_own_values(make_oidc):
    oidc = make_oidc(rooms={"shop": HELD})
    first = page_of(oidc.authorize(browser=oidc.new_browser(), state="first-visitor"))
    second = page_of(oidc.authorize(browser=oidc.new_browser(), state="second-visitor"))
    looks = oidc.app.extensions["cut_pages"]
    assert len(looks) == 1  # same room, language and view: one look
    assert "first-visitor" in first and "first-visitor" not in second
    assert "second-visitor" in second
    assert re.search(r'id="position">1<', first) and re.search(r'id="position">2<', second)
    tickets = [
        json.loads(re.search(r"data-wr='([^']+)'", p).group(1))["ticket"] for p in (first, second)
    ]
    assert tickets[0] != tickets[1] and tickets[1] not in first


def test_a_custom_template_may_print_values_any_way_autoescaping_allows(make_oidc, tmp_path):
    body = (
        '<p id="a">{{ ticket.position }}|{{ ahead|e }}|{{ continue_url }}</p>'
        "<p id=\"b\" data-t='{{ ticket|tojson }}' data-c='{{ client|tojson }}'></p>"
    )
    oidc = make_oidc(rooms=custom_room(tmp_path, body))
    oidc.authorize(browser=oidc.new_browser())
    page = page_of(oidc.authorize(state=EVIL))
    (look,) = oidc.app.extensions["cut_pages"].values()
    assert look is not cut_pages.PER_REQUEST
    a = re.search(r'<p id="a">([^<]*)</p>', page).group(1)
    assert a.startswith("2|1|/authorize?") and "&amp;" in a and "<" not in a
    ticket = json.loads(re.search(r"data-t='([^']+)'", page).group(1))
    assert ticket["position"] == 2 and ticket["ahead"] == 1
    assert json.loads(re.search(r"data-c='([^']+)'", page).group(1))["ahead"] == 1


@pytest.mark.parametrize(
    "body",
    [
        "{% if ahead > 0 %}{{ t.number(ahead + 1) }} in line{% endif %}",  # computes
        "{{ request.args.state }}",  # reads the request
        "{{ continue_url|upper }}",  # a filter reads the value
        "{{ url_for('authorize.authorize', _external=True) }}",  # the request's host
    ],
)
def test_a_template_that_uses_a_value_is_rendered_per_request(make_oidc, tmp_path, body):
    oidc = make_oidc(rooms=custom_room(tmp_path, f'<p id="x">{body}</p>'))
    oidc.authorize(browser=oidc.new_browser(), state="one")
    page = page_of(oidc.authorize(state="two"))
    assert list(oidc.app.extensions["cut_pages"].values()) == [cut_pages.PER_REQUEST]
    shown = re.search(r'<p id="x">([^<]*)</p>', page).group(1)
    expected = {
        "{% if": "2 in line",
        "{{ request": "two",
        "{{ continue_url": "STATE=TWO",
        "{{ url_for": "http://localhost/authorize",
    }
    assert next(v for k, v in expected.items() if body.startswith(k)) in shown


def test_a_slot_refuses_everything_but_printing():
    app = Flask(__name__)
    app.jinja_env.loader = DictLoader(
        {
            "print.html": "{{ v }}|{{ v|e }}|{{ d.k }}",
            "test.html": "{% if v %}yes{% endif %}",
            "str.html": "{{ v|string }}",
        }
    )
    with app.test_request_context("/"):
        values = {"v": "<&>", "d": {"k": 1}}

        def render(name: str) -> str:
            return cut_pages.render(app.jinja_env, name, name, dict, values, expand=("d",))

        assert render("print.html") == "&lt;&amp;&gt;|&lt;&amp;&gt;|1"
        assert render("test.html") == "yes"
        assert render("str.html") == "&lt;&amp;&gt;"
        looks = app.extensions["cut_pages"]
        assert looks[(id(app.jinja_env), "print.html", "print.html")].slots
        assert looks[(id(app.jinja_env), "test.html", "test.html")] is cut_pages.PER_REQUEST
        assert looks[(id(app.jinja_env), "str.html", "str.html")] is cut_pages.PER_REQUEST
