"""/metrics: prometheus_client's counters next to the room gauges, its protection,
and the Grafana dashboard that reads them (one process: the Flask test client;
gunicorn's workers are in test_metrics_gunicorn.py)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from oidc_adapter.app import create_app

from . import oidc_fixtures as fx
from .conftest import make_config
from .helpers import RedisServer, require

DASHBOARD = Path(__file__).parent.parent / "docker" / "grafana" / "oidc-waiting-room.json"
METRICS_TOKEN = "metrics-token-0123456789abcdef"

make_oidc, oidc = fx.make_oidc, fx.oidc  # fixtures


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of an exposition, by (name, labels); parsing also validates it."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client, **headers) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    return samples(response.get_data(as_text=True))


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def requests_total(found: dict, route: str, status: str, method: str = "GET") -> float:
    return value(
        found, "oidc_adapter_http_requests_total", route=route, method=method, status=status
    )


def test_requests_are_counted_by_url_rule_and_status(make_app, admin_headers):
    client = make_app().test_client()
    before = scrape(client)
    ticket = client.post("/api/rooms/shop/tickets").json["ticket"]
    for _ in range(3):
        assert client.get(f"/api/rooms/shop/tickets/{ticket}").status_code == 200
    assert client.get(f"/api/rooms/nowhere/tickets/{ticket}").status_code == 404
    assert client.get(f"/no/such/{ticket}").status_code == 404
    assert client.post("/admin/rooms/shop/pause").status_code == 401
    assert client.open("/healthz", method="BREW").status_code == 405
    after = scrape(client)

    def moved(route: str, status: str, method: str = "GET") -> float:
        return requests_total(after, route, status, method) - requests_total(
            before, route, status, method
        )

    ticket_route = "/api/rooms/<room>/tickets/<ticket>"
    assert moved(ticket_route, "200") == 3
    assert moved(ticket_route, "404") == 1
    assert moved("unmatched", "404") == 1
    assert moved("/admin/rooms/<room>/pause", "401", "POST") == 1
    assert moved("unmatched", "405", "other") == 1  # methods are bounded too
    assert (
        moved("/api/rooms/<room>/tickets", "201", "POST")
        + moved("/api/rooms/<room>/tickets", "200", "POST")
        == 1
    )
    # Bounded labels: no raw path, no ticket id anywhere in the exposition.
    text = client.get("/metrics").get_data(as_text=True)
    assert ticket not in text and "nowhere" not in text and "BREW" not in text
    count = "oidc_adapter_http_request_duration_seconds_count"
    assert (
        value(after, count, route=ticket_route, status="200")
        - value(before, count, route=ticket_route, status="200")
        == 3
    )


def test_script_calls_are_timed_per_script(make_app):
    client = make_app().test_client()
    count = "oidc_adapter_redis_script_duration_seconds_count"
    before = scrape(client)
    ticket = client.post("/api/rooms/shop/tickets").json["ticket"]
    client.get(f"/api/rooms/shop/tickets/{ticket}")
    after = scrape(client)
    assert value(after, count, script="take") - value(before, count, script="take") == 1
    assert value(after, count, script="status") - value(before, count, script="status") == 1
    # Every script has its series from the start, so rate() works before the first call.
    assert (
        "oidc_adapter_redis_script_duration_seconds_count",
        frozenset({("script", "reset")}),
    ) in after


def test_a_redis_outage_counts_errors_and_503s_and_metrics_still_answer(tmp_path, clock):
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        app = create_app(make_config(server.url), clock=clock)
        client = app.test_client()
        ticket = client.post("/api/rooms/shop/tickets").json["ticket"]
        before = scrape(client)
        assert "waiting_room_waiting" in {name for name, _ in before}
        server.stop()
        assert client.get(f"/api/rooms/shop/tickets/{ticket}").status_code == 503
        during = scrape(client)  # the counters, without the rooms Redis cannot give
        server.start()
    finally:
        server.stop()
    errors = "oidc_adapter_redis_script_errors_total"
    assert (
        value(during, errors, script="status", error="ConnectionError")
        - value(before, errors, script="status", error="ConnectionError")
        == 1
    )
    route = "/api/rooms/<room>/tickets/<ticket>"
    assert requests_total(during, route, "503") - requests_total(before, route, "503") == 1
    assert "waiting_room_waiting" not in {name for name, _ in during}


def test_tokens_issued_are_counted(oidc):
    before = scrape(oidc.browser)
    oidc.login()
    code, params = oidc.code()
    assert oidc.token(code, secret="wrong-secret-0123456789").status_code == 401
    after = scrape(oidc.browser)
    name = "oidc_adapter_tokens_issued_total"
    assert value(after, name) - value(before, name) == 1


def test_room_gauges_sit_in_the_same_exposition(make_app):
    app = make_app(rooms={"shop": {"admit_per_minute": 60, "max_active": 0}, "quiet": {}})
    engine = app.extensions["waiting_room"].engine
    engine.take("shop")
    found = scrape(app.test_client())
    assert value(found, "waiting_room_seq_total", room="shop") == 1
    assert value(found, "waiting_room_admit_per_minute", room="shop") == 60
    assert ("waiting_room_waiting", frozenset({("room", "quiet")})) in found
    assert any(name == "oidc_adapter_http_requests_total" for name, _ in found)


def test_a_metrics_token_is_required_when_configured(make_app):
    client = make_app(metrics_token=METRICS_TOKEN).test_client()
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-0123456789abc"},
        {"Authorization": f"Basic {METRICS_TOKEN}"},
    ):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert refused.json["error"] == "invalid_token"
        assert "waiting_room" not in refused.get_data(as_text=True)
    assert scrape(client, Authorization=f"Bearer {METRICS_TOKEN}")


def test_with_metrics_bind_the_public_app_has_no_metrics(make_app):
    client = make_app(metrics_bind="127.0.0.1:9108").test_client()
    assert client.get("/metrics").status_code == 404


def test_promtool_accepts_the_exposition(make_app):
    promtool = shutil.which("promtool")
    require(promtool is not None, "promtool is not installed (Debian package prometheus)")
    client = make_app().test_client()
    client.post("/api/rooms/shop/tickets")
    text = client.get("/metrics").get_data(as_text=True)
    done = subprocess.run(  # noqa: S603
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "" and done.stderr.strip() == "", done.stdout + done.stderr


#: A metric name inside a PromQL expression: followed by `{`, `[`, `)` or the end.
PROMQL_NAME = re.compile(r"\b((?:oidc_adapter|waiting_room)_[a-z_]+)\b")


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    exprs += [v["query"] for v in dashboard.get("templating", {}).get("list", []) if "query" in v]
    return [e if isinstance(e, str) else e["query"] for e in exprs]


def test_the_grafana_dashboard_uses_only_metrics_that_exist(oidc):
    oidc.login()
    text = oidc.browser.get("/metrics").get_data(as_text=True)
    exposed = {s.name for family in text_string_to_metric_families(text) for s in family.samples}
    exprs = dashboard_expressions()
    assert len(exprs) >= 8
    used = {name for expr in exprs for name in PROMQL_NAME.findall(expr)}
    assert used, "no metric names found in the dashboard"
    assert used <= exposed, f"not in /metrics: {sorted(used - exposed)}"
    assert {"oidc_adapter_http_requests_total", "waiting_room_waiting"} <= used


@pytest.mark.parametrize("field", ["metrics_token", "metrics_bind"])
def test_metrics_settings_are_checked(make_app, field):
    from oidc_adapter.config import ConfigError

    with pytest.raises(ConfigError) as refused:
        make_app(**{field: "short"})
    assert refused.value.problems[0][0] == field
