"""The door for browsers: what /authorize and /wait show a new visitor the
join gate refuses, and what they read from its form.

The proof-of-work step sends the solution back to the same address with the
same request, so the page is told where (`action`) and how (`method`: /wait
takes GET, /authorize also POST).
"""

from __future__ import annotations

from flask import Response, abort, request

from ..config import RoomConfig
from . import pages
from .branding import static_url
from .captcha import FORM_FIELDS
from .join_gate import JoinProof, JoinRefused, check_newcomer
from .responses import json_error

CAPTCHA_FIELDS = ("captcha_token", *FORM_FIELDS.values())
#: What a visitor sends to pass the door; never part of the request it waits on.
DOOR_FIELDS = frozenset(("pow_challenge", "pow_counter", *CAPTCHA_FIELDS))
REFUSED_TITLE = "You cannot join the line right now"


def request_items() -> list[tuple[str, str]]:
    """The request's own values, without the door's."""
    return [(k, v) for k, v in request.values.items(multi=True) if k not in DOOR_FIELDS]


def pass_door(room: RoomConfig, held: str | None, action: str, method: str = "post") -> None:
    """Aborts with the door's answer unless a ticket may be taken (join_gate)."""
    values = request.values
    captcha = next((values[name] for name in CAPTCHA_FIELDS if name in values), None)
    proof = JoinProof(values.get("pow_challenge"), values.get("pow_counter"), captcha)
    try:
        check_newcomer(room.name, held, proof)
    except JoinRefused as exc:
        abort(_refused(exc, room, action, method))


def _refused(exc: JoinRefused, room: RoomConfig, action: str, method: str) -> Response:
    """No ticket: JSON for an app, the proof-of-work step, or a page saying why."""
    if request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json":
        return json_error(exc.status, exc.error, exc.description, exc.headers, **exc.extra)
    if exc.error == "pow_required":
        client = {
            "challenge": exc.extra["challenge"],
            "bits": exc.extra["bits"],
            "worker": static_url("pow_worker.js"),
        }
        return pages.room_page(
            "pow.html",
            room,
            pow=client,
            pow_js_url=static_url("pow.js"),
            form_action=action,
            form_method=method,
            fields=request_items(),
        )
    page = pages.error_page(exc.status, REFUSED_TITLE, exc.description)
    page.headers.update(exc.headers)
    return page
