"""The operator dashboard at /admin/: every room, live charts, the controls.

Signing in trades an admin token (any of the named ones) for a session
cookie (`dashboard_session`). The controls are the admin API's own views
(`admin_api`), mounted again under this blueprint behind the session and a
CSRF token instead of a bearer token, so the rules, the answers and the
operator log lines are the API's. The charts read the room's time series,
which the room scripts keep as they run (`room/series.py`).

Pages load only our own script and stylesheet (the waiting page's CSP), and
every value reaches the page through Jinja autoescaping or the DOM's
textContent, never as markup.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import (
    Blueprint,
    Response,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from ..room.present import room_json
from ..room.series import chart_data, read_recorded
from ..room.settings import parse_setting_changes
from ..services import services
from . import admin_api, validate
from . import dashboard_session as session
from .branding import static_url
from .errors import ApiError
from .pages import CSP
from .responses import no_store

bp = Blueprint("dashboard", __name__, url_prefix="/admin")

#: The admin API's views the dashboard's controls call, by the path they get here.
CONTROLS = {
    "pause": admin_api.pause,
    "resume": admin_api.resume,
    "close": admin_api.close,
    "settings": admin_api.change_settings,
    "admit": admin_api.admit,
    "revoke": admin_api.revoke,
}
for _path, _view in CONTROLS.items():
    # Endpoints named as in the admin API, so its log line names the same action.
    bp.add_url_rule(
        f"/ui/rooms/<room>/{_path}", endpoint=_view.__name__, view_func=_view, methods=["POST"]
    )
#: What anyone may reach: the sign-in page and form.
OPEN = {"dashboard.home", "dashboard.signin"}
#: The settings a confirmation previews.
PREVIEWED = ("admit_per_minute", "max_active")


def _secure() -> bool:
    return services().config.issuer.startswith("https://")


@bp.before_request
def require_session() -> Response | None:
    """No session: 401 for data and calls, the sign-in page for pages. A
    state-changing call also needs the session's CSRF token (403)."""
    svc = services()
    g.admin_session = session.from_request(request, svc.secret, svc.config.admin_credentials)
    g.admin_name = g.admin_session.name if g.admin_session else None
    if request.endpoint in OPEN:
        return None
    if g.admin_session is None:
        if request.method == "GET" and request.endpoint == "dashboard.room_page":
            return redirect(url_for("dashboard.home"), 303)
        raise ApiError(401, "invalid_session", "Sign in to the dashboard first.")
    if request.method not in admin_api.READS:
        given = request.headers.get(session.CSRF_HEADER) or request.form.get(session.CSRF_FIELD)
        if not session.csrf_ok(svc.secret, g.admin_session, given):
            raise ApiError(403, "csrf_refused", "This call needs the page's CSRF token.")
    return None


@bp.after_request
def log_and_protect(response: Response) -> Response:
    """Changes get the admin API's operator log line (previews change nothing)."""
    if request.endpoint != "dashboard.preview":
        response = admin_api.log_action(response)
    return no_store(response)


def _page(template: str, status: int = 200, **context: Any) -> Response:
    svc = services()
    found = g.get("admin_session")
    context.update(
        css_url=static_url("admin.css"),
        js_url=static_url("admin.js"),
        charts_url=static_url("admin_charts.js"),
        admin_name=found.name if found else None,
        csrf=session.csrf_token(svc.secret, found) if found else None,
    )
    response = Response(render_template(template, **context), status)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _signin_page(status: int = 200, problem: str | None = None) -> Response:
    nonce = session.new_signin_nonce()
    response = _page("admin_signin.html", status, nonce=nonce, problem=problem)
    session.write_signin_nonce(response, nonce, _secure())
    return response


@bp.get("/")
def home() -> Response:
    if g.admin_session is None:
        return _signin_page()
    engine = services().engine
    rooms = [admin_api.admin_room_json(engine.state(name)) for name in engine.rooms]
    return _page("admin_overview.html", rooms=rooms)


@bp.post("/signin")
def signin() -> Response:
    if not session.signin_nonce_ok(request, request.form.get(session.CSRF_FIELD)):
        return _signin_page(403, "The form expired; please sign in again.")
    token = request.form.get("token", "")
    name = admin_api.admin_name(f"Bearer {token}")
    if name is None:
        return _signin_page(401, "That is not a valid admin token.")
    g.admin_name = name
    response = redirect(url_for("dashboard.home"), 303)
    session.write(response, session.issue(services().secret, name, token), _secure())
    return response


@bp.post("/signout")
def signout() -> Response:
    response = redirect(url_for("dashboard.home"), 303)
    session.clear(response, _secure())
    return response


@bp.get("/ui/rooms/<room>")
def room_page(room: str) -> Response:
    room = validate.known_room(room)
    return _page("admin_room.html", room=room)


@bp.get("/ui/data/rooms")
def rooms_data() -> Response:
    engine = services().engine
    return jsonify(
        {"rooms": [admin_api.admin_room_json(engine.state(name)) for name in engine.rooms]}
    )


@bp.get("/ui/data/rooms/<room>")
def room_data(room: str) -> Response:
    """The room as the admin API shows it, and its last hour for the charts."""
    svc = services()
    view = svc.engine.state(validate.known_room(room))
    charts = chart_data(read_recorded(svc.redis, view), view.now_ms // 1000)
    return jsonify({"room": admin_api.admin_room_json(view), "charts": charts})


@bp.post("/ui/rooms/<room>/preview")
def preview(room: str) -> Response:
    """A newcomer's estimate under a proposed rate and cap, for the confirmation:
    the room as it is now, read with the new settings (the scripts' slot times
    under the cap are today's, so a changed cap is an approximation)."""
    room = validate.known_room(room)
    body = validate.json_body(required=True)
    proposed = {key: body[key] for key in PREVIEWED if key in body}
    changes, problems = parse_setting_changes(proposed)
    if problems or not changes:
        field, message = problems[0] if problems else ("admit_per_minute", "nothing proposed")
        raise ApiError(400, "invalid_request", f"{field}: {message}", field=field)
    view = services().engine.state(room)
    settings = {**view.settings, **{k: v for k, v in changes.items() if v is not None}}
    after = room_json(dataclasses.replace(view, settings=settings))
    return jsonify(
        {
            "current": room_json(view)["estimated_wait_for_newcomer"],
            "proposed": after["estimated_wait_for_newcomer"],
            "unavailable": after["estimate_unavailable"],
            "settings": {key: settings[key] for key in PREVIEWED},
        }
    )
