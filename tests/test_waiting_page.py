"""The waiting page on the server side: languages, formats, escaping, headers, JSON mode,
branding and the config that drives them. The browser side is in tests/browser/."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from oidc_adapter.config import ConfigError, contrast_ratio, parse_config
from oidc_adapter.i18n import Catalog, check_translations

from . import oidc_fixtures as fx
from .oidc_fixtures import ISSUER, default_clients

make_oidc, oidc = fx.make_oidc, fx.oidc  # fixtures

HELD = {"admit_per_minute": 0, "max_active": 0}
PAGE_BUDGET = 30 * 1024


def rooms(**shop: object) -> dict:
    return {"shop": {**HELD, **shop}}


@pytest.fixture
def catalog() -> Catalog:
    return Catalog()


def html_of(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


# -- languages --------------------------------------------------------------


@pytest.mark.parametrize(
    ("ui_locales", "accept", "expected"),
    [
        ("fr-CA de", [("de", 1.0)], "fr"),  # ui_locales wins, region falls back to language
        ("xx tlh de", [("es", 1.0)], "de"),  # unknown ui_locales are skipped in order
        (None, [("de-AT", 1.0), ("en", 0.8)], "de"),
        (None, [("en", 0.1), ("es", 0.9)], "es"),  # by quality, not by position
        (None, [("it", 1.0), ("*", 0.5)], "en"),
        (None, [("es", 0.0), ("fr", 0.2)], "fr"),  # q=0 means "not this one"
        ("<script>", [("not a tag!", 1.0)], "en"),
        ("", [], "en"),
    ],
)
def test_locale_negotiation(catalog, ui_locales, accept, expected):
    assert catalog.negotiate(ui_locales, accept).lang == expected


def test_at_least_four_built_in_languages_with_every_text(catalog):
    assert {"en", "de", "fr", "es"} <= set(catalog.locales)
    english = set(catalog.locales["en"].messages)
    for lang in ("de", "fr", "es"):
        path = Path(__file__).parents[1] / "waiting_page" / "translations" / f"{lang}.json"
        own = set(json.loads(path.read_text(encoding="utf-8")))
        assert english - own == set(), f"{lang} falls back to English for {english - own}"


@pytest.mark.parametrize(
    ("lang", "n", "expected"),
    [
        ("en", 1234567, "1,234,567"),
        ("de", 1234567, "1.234.567"),
        ("fr", 1234, "1\u202f234"),
        ("es", 1234, "1234"),  # Spanish groups from five digits on
        ("es", 12345, "12.345"),
        ("en", 999, "999"),
    ],
)
def test_numbers_are_grouped_for_the_locale(catalog, lang, n, expected):
    assert catalog.locales[lang].number(n) == expected


def test_plural_rules_follow_the_language(catalog):
    en, fr, de = (catalog.locales[k] for k in ("en", "fr", "de"))
    assert en.plural("ahead", 1) == "1 person is ahead of you."
    assert en.plural("ahead", 0) == "0 people are ahead of you."
    assert fr.plural("ahead", 0) == "0 personne est devant vous."  # French: 0 is singular
    assert de.plural("ahead", 2500) == "2.500 Personen sind vor Ihnen."


@pytest.mark.parametrize(
    ("seconds", "en", "de"),
    [
        (0, "less than a minute", "weniger als eine Minute"),
        (59, "less than a minute", "weniger als eine Minute"),
        (60, "1 minute", "1 Minute"),
        (61, "2 minutes", "2 Minuten"),
        (3540, "59 minutes", "59 Minuten"),
        (3600, "1 hour", "1 Stunde"),
        (4000, "1 hour 5 minutes", "1 Stunde 5 Minuten"),
        (9000, "2 hours 30 minutes", "2 Stunden 30 Minuten"),
    ],
)
def test_durations(catalog, seconds, en, de):
    assert catalog.locales["en"].duration(seconds) == en
    assert catalog.locales["de"].duration(seconds) == de


def test_wait_is_a_range_from_the_estimate_or_an_honest_unknown(catalog):
    en = catalog.locales["en"]
    assert en.wait(None).startswith("We can't estimate it yet")
    assert en.wait({"seconds": 300, "low": 240, "high": 420}) == (
        "about 5 minutes (between 4 minutes and 7 minutes)"
    )
    assert en.wait({"seconds": 90, "low": 30, "high": 150}) == "about 2 minutes (up to 3 minutes)"
    assert en.wait({"seconds": 100, "low": 95, "high": 110}) == "about 2 minutes"
    assert en.wait({"seconds": 20, "low": 10, "high": 40}) == "less than a minute"
    assert en.wait({"seconds": 50, "low": 30, "high": 70}) == (
        "probably less than a minute (up to 2 minutes)"
    )
    es = catalog.locales["es"]
    assert es.wait({"seconds": 300, "low": 240, "high": 420}) == (
        "unos 5 minutos (entre 4 minutos y 7 minutos)"
    )


def test_operator_files_override_texts_and_add_languages(tmp_path):
    (tmp_path / "en.json").write_text(
        json.dumps({"keep_open": "Stay right here.", "rooms": {"shop": {"title": "Big sale"}}})
    )
    (tmp_path / "it.json").write_text(
        json.dumps({"_group": ".", "page_title": "Sei in coda", "minutes": {"one": "{n} minuto"}})
    )
    assert check_translations(tmp_path) == []
    cat = Catalog(tmp_path)
    en = cat.locales["en"]
    assert en("keep_open") == "Stay right here."
    assert en("lead").startswith("Thanks for your patience")  # untouched texts stay
    assert en.room_text("shop", "title", "From the config") == "Big sale"
    assert en.room_text("other", "title", "From the config") == "From the config"
    it = cat.negotiate("it-IT", [])
    assert it.lang == "it"
    assert it("page_title") == "Sei in coda"
    assert it.plural("minutes", 1) == "1 minuto"
    assert it.plural("minutes", 5) == "5 minutes"  # a missing form falls back to English
    assert it.number(12000) == "12.000"


def test_broken_translation_files_are_config_problems(tmp_path):
    (tmp_path / "de.json").write_text("{not json")
    (tmp_path / "fr.json").write_text(json.dumps({"ahead": {"one": 1}, "_plural": "many"}))
    (tmp_path / "bad name.json").write_text("{}")
    (tmp_path / "es.json").write_text("[]")
    problems = dict(check_translations(tmp_path))
    assert "not a valid translation file" in problems["de.json"]
    assert "bad name.json" in problems and "es.json" in problems
    found = check_translations(tmp_path)
    assert ("fr.json", "ahead.one: must be a string") in found
    assert ("fr.json", "_plural must be one of one, zero-one") in found

    with pytest.raises(ConfigError) as err:
        parse_config(_config(translations_dir=str(tmp_path)), env={})
    fields = [f for f, _ in err.value.problems]
    assert "translations_dir/de.json" in fields and "translations_dir/fr.json" in fields
    with pytest.raises(ConfigError) as err:
        parse_config(_config(translations_dir=str(tmp_path / "missing")), env={})
    assert err.value.problems[0][0] == "translations_dir"


def test_page_language_comes_from_ui_locales_then_accept_language(make_oidc):
    oidc = make_oidc(rooms=rooms())
    fr = oidc.authorize(ui_locales="fr", browser=oidc.new_browser())
    assert '<html lang="fr"' in html_of(fr)
    assert fr.headers["Content-Language"] == "fr"
    assert "Votre place dans la file" in html_of(fr)
    de = oidc.new_browser().get(
        "/authorize", query_string=oidc.authorize_params(), headers={"Accept-Language": "de-CH"}
    )
    assert '<html lang="de"' in html_of(de) and "Ihr Platz in der Warteschlange" in html_of(de)
    assert "Accept-Language" in de.headers["Vary"]
    # The continue URL (and so the next page) keeps ui_locales.
    assert "ui_locales=fr" in re.search(r'data-continue-url="([^"]+)"', html_of(fr)).group(1)


def test_error_page_is_translated(make_oidc):
    oidc = make_oidc(rooms=rooms())
    response = oidc.browser.get(
        "/authorize", query_string={"client_id": "nobody"}, headers={"Accept-Language": "es"}
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Aplicación desconocida" in page and '<html lang="es"' in page


# -- the page -----------------------------------------------------------------


def test_waiting_page_shows_place_ahead_served_and_estimate(make_oidc):
    oidc = make_oidc(rooms=rooms())
    for _ in range(3):
        oidc.authorize(browser=oidc.new_browser())
    page = html_of(oidc.authorize())
    assert re.search(r'id="position">4<', page)
    assert "3 people are ahead of you." in page
    assert "0 people have gone in so far." in page
    assert "We can&#39;t estimate it yet" in page  # no admissions measured: no number
    assert "Keep this tab open" in page
    config = json.loads(re.search(r"data-wr='([^']+)'", page).group(1))
    assert config["ahead"] == 3 and config["number"] == 4 and config["lang"] == "en"
    assert config["roomUrl"] == "/api/rooms/shop" and config["beatEvery"] == 30


def test_a_room_that_admits_by_hand_promises_no_wait_even_after_admissions(make_oidc, clock):
    oidc = make_oidc(rooms=rooms())
    clock.ms = (clock.ms // 10_000 + 1) * 10_000  # start on a rate-bucket edge: deterministic
    for _ in range(10):
        oidc.authorize(browser=oidc.new_browser())
    browser = oidc.new_browser()
    params = oidc.authorize_params()
    browser.get("/authorize", query_string=params)
    oidc.admit(2)
    clock.advance(20)
    page = html_of(browser.get("/authorize", query_string=params))
    config = json.loads(re.search(r"data-wr='([^']+)'", page).group(1))
    assert config["estimate"] is None  # issue 9: two admissions by hand are no rate
    shown = re.search(r'id="wait">([^<]+)<', page).group(1)
    assert shown == Catalog().locales["en"].wait(None).replace("'", "&#39;")
    assert "2 people have gone in so far." in page


def test_no_javascript_refresh_continues_the_login_within_the_heartbeat(make_oidc):
    oidc = make_oidc(rooms=rooms(waiting_grace_seconds=40))
    page = html_of(oidc.authorize())
    refresh = re.search(r'<noscript><meta http-equiv="refresh" content="(\d+);url=([^"]+)">', page)
    assert refresh, "meta refresh only without script, so script users never reload"
    assert int(refresh.group(1)) == 10  # the heartbeat interval: grace 40 s / 4
    assert refresh.group(2) == re.search(r'data-continue-url="([^"]+)"', page).group(1)
    assert refresh.group(2).startswith("/authorize?client_id=alb&amp;")


@pytest.mark.parametrize(("action", "title"), [("pause", "Admission is paused"), ("close", "")])
def test_paused_and_closed_rooms_are_rendered_by_the_server(
    make_oidc, admin_headers, action, title
):
    oidc = make_oidc(rooms=rooms())
    params = oidc.authorize_params()
    oidc.browser.get("/authorize", query_string=params)
    oidc.browser.post(f"/admin/rooms/shop/{action}", headers=admin_headers)
    page = html_of(oidc.browser.get("/authorize", query_string=params))
    view = "paused" if action == "pause" else "closed"
    assert re.search(rf'<section class="notice" data-view="{view}">', page)
    other = "closed" if view == "paused" else "paused"
    assert re.search(rf'data-view="{other}" hidden>', page)
    assert re.search(r'<div class="wait" id="wait-row" hidden>', page)
    assert (title or "The waiting room is closed") in page


# -- escaping and headers -------------------------------------------------------

EVIL = '<script>alert("x")</script>'


def test_operator_and_request_text_is_escaped(make_oidc, tmp_path):
    (tmp_path / "en.json").write_text(json.dumps({"keep_open": EVIL, "_dir": "rtl"}))
    oidc = make_oidc(
        rooms=rooms(title=EVIL, message="<b onclick=x>hi</b> & bye"),
        translations_dir=str(tmp_path),
    )
    page = html_of(oidc.authorize(state="\"'><script>alert(1)</script>"))
    assert "<script>alert" not in page and "<b onclick" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "&lt;b onclick=x&gt;hi&lt;/b&gt; &amp; bye" in page
    assert "state=%22%27%3E%3Cscript%3E" in page
    # The script's settings are JSON inside a single-quoted attribute: no quote breaks out.
    data = re.search(r"data-wr='([^']+)'", page).group(1)
    assert "<" not in data and ">" not in data
    assert '<html lang="en" dir="rtl">' in page


def inline_code(page: str) -> list[str]:
    """Inline scripts, style blocks, style attributes and event handler attributes."""
    return (
        re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page)
        + re.findall(r"<style\b", page)
        + re.findall(r"\sstyle=", page)
        + re.findall(r"\son[a-z]+=", page)
    )


def test_security_headers_and_no_inline_code(make_oidc):
    oidc = make_oidc(rooms=rooms(brand_color="#7a1fa2"))
    response = oidc.authorize()
    page = html_of(response)
    csp = dict(
        part.strip().split(" ", 1)
        for part in response.headers["Content-Security-Policy"].split(";")
    )
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert csp["connect-src"] == "'self'" and csp["frame-ancestors"] == "'none'"
    assert "unsafe" not in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert inline_code(page) == []
    error = oidc.browser.get("/authorize")
    assert error.status_code == 400
    assert error.headers["Content-Security-Policy"] == response.headers["Content-Security-Policy"]
    assert inline_code(error.get_data(as_text=True)) == []


def test_page_weight_and_cache_busted_assets(make_oidc):
    oidc = make_oidc(rooms=rooms(title="A" * 500, message="B" * 500))
    page = html_of(oidc.authorize())
    assets = re.findall(r'(?:href|src)="(/static/waiting/[^"]+)"', page)
    assert sorted(a.split("?")[0] for a in assets) == [
        "/static/waiting/waiting.css",
        "/static/waiting/waiting.js",
    ]
    weight = len(page.encode())
    for url in assets:
        assert re.search(r"\?v=[0-9a-f]{12}$", url)
        asset = oidc.browser.get(url)
        assert asset.status_code == 200
        weight += len(asset.data)
    assert weight < PAGE_BUDGET, weight


# -- JSON mode -----------------------------------------------------------------


def test_json_mode_says_what_to_poll_and_when(make_oidc):
    oidc = make_oidc(rooms=rooms(waiting_grace_seconds=60), room_state_max_age=3)
    oidc.authorize(browser=oidc.new_browser())
    response = oidc.browser.get(
        "/authorize",
        query_string=oidc.authorize_params(state="js"),
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "Accept" in response.headers["Vary"]
    info = response.json
    assert info["state"] == "waiting" and info["position"] == 2 and info["ahead"] == 1
    assert info["estimated_wait"] is None
    assert info["poll_url"] == f"{ISSUER}/api/rooms/shop/tickets/{info['ticket']}"
    assert info["poll_after_seconds"] == info["heartbeat_seconds"] == 15
    assert info["room_url"] == f"{ISSUER}/api/rooms/shop"
    assert info["room_poll_seconds"] == 3
    assert (
        info["continue_url"].startswith(f"{ISSUER}/authorize?")
        and "state=js" in info["continue_url"]
    )
    assert oidc.browser.get(info["poll_url"]).json["ticket"] == info["ticket"]
    assert oidc.browser.get(info["room_url"]).json["waiting"] == 2


# -- branding --------------------------------------------------------------------

SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>1</script></svg>'


def _config(**extra: object) -> dict:
    return {
        "issuer": ISSUER,
        "rooms": {"shop": dict(HELD)},
        "clients": default_clients(),
        **extra,
    }


def test_branding_is_validated(tmp_path):
    (tmp_path / "logo.exe").write_text("x")
    data = _config()
    data["rooms"]["shop"].update(
        brand_color="blue",
        background_color="#fff",
        text_color="#eee",  # 1.2:1 on white
        logo="logo.exe",
        template_dir="nowhere",
    )
    data["rooms"]["gone"] = {"logo": "missing.png"}
    with pytest.raises(ConfigError) as err:
        parse_config(data, env={}, base=tmp_path)
    problems = dict(err.value.problems)
    assert "hex colour" in problems["rooms.shop.brand_color"]
    assert "WCAG 2.1 AA" in problems["rooms.shop.text_color"]
    assert "image file" in problems["rooms.shop.logo"]
    assert "folder not found" in problems["rooms.shop.template_dir"]
    assert "file not found" in problems["rooms.gone.logo"]


def test_a_brand_colour_without_contrast_is_refused():
    data = _config()
    data["rooms"]["shop"]["brand_color"] = "#ffcc00"  # yellow on the default white
    with pytest.raises(ConfigError) as err:
        parse_config(data, env={})
    assert err.value.problems[0][0] == "rooms.shop.brand_color"
    assert contrast_ratio("#000", "#ffffff") == pytest.approx(21)
    assert contrast_ratio("#0b57d0", "#fff") >= 4.5  # the default brand colour


def test_logo_theme_and_custom_templates_are_served_by_us(make_oidc, tmp_path):
    (tmp_path / "logo.svg").write_text(SVG)
    templates = tmp_path / "templates"
    (templates / "static").mkdir(parents=True)
    (templates / "static" / "extra.css").write_text("h1{color:red}")
    (templates / "waiting.html").write_text(
        '{% extends "layout.html" %}{% block main %}<h1 class="mine">{{ title }}</h1>'
        '<p id="position">{{ ticket.position }}</p>'
        '<link rel="stylesheet" href="{{ room_asset("extra.css") }}">{% endblock %}'
    )
    oidc = make_oidc(
        rooms=rooms(
            title=EVIL,
            logo=str(tmp_path / "logo.svg"),
            logo_alt="Shop <logo>",
            brand_color="#7A1FA2",
            background_color="#fffdf5",
            template_dir=str(templates),
        )
    )
    page = html_of(oidc.authorize())
    assert '<h1 class="mine">&lt;script&gt;' in page  # a custom template is escaped too
    assert 'alt="Shop &lt;logo&gt;"' in page
    logo_url = re.search(r'<img class="logo" src="([^"]+)"', page).group(1)
    theme_url = re.search(r'href="(/static/rooms/shop/theme.css\?v=\w+)"', page).group(1)
    extra_url = re.search(r'href="(/static/rooms/shop/files/extra.css)"', page).group(1)

    logo = oidc.browser.get(logo_url)
    assert logo.status_code == 200 and logo.mimetype == "image/svg+xml"
    assert "sandbox" in logo.headers["Content-Security-Policy"]
    assert logo.headers["X-Content-Type-Options"] == "nosniff"
    theme = oidc.browser.get(theme_url)
    assert theme.mimetype == "text/css"
    assert theme.get_data(as_text=True) == (
        ":root{color-scheme:light;--brand:#7a1fa2;--bg:#fffdf5;--text:#1b1f24}\n"
    )
    assert theme.headers["Cache-Control"].startswith("public")
    assert oidc.browser.get(extra_url).get_data(as_text=True) == "h1{color:red}"
    assert oidc.browser.get("/static/rooms/shop/files/../logo.svg").status_code == 404
    assert oidc.browser.get("/static/rooms/nope/theme.css").status_code == 404


def test_an_unbranded_room_has_no_theme_or_logo(make_oidc):
    oidc = make_oidc(rooms=rooms())
    page = html_of(oidc.authorize())
    assert "theme.css" not in page and 'class="logo"' not in page
    assert oidc.browser.get("/static/rooms/shop/theme.css").status_code == 404
    assert oidc.browser.get("/static/rooms/shop/logo").status_code == 404
