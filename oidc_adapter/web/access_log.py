"""Structured logs: one line per request (`log_format = "json"`) and one per
operator action (always), for a log pipeline to index rather than a person to grep.

A line never holds a raw ticket id or path: a ticket id is as good as the
ticket (whoever holds it can poll and claim it), and paths carry ticket ids
and handoff tokens. Tickets appear as a short keyed hash instead, the same on
every worker, so one visitor's lines can still be followed. The client
address is the one `proxies.TrustedProxies` decided.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import redis
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from ..config import Config
from ..services import services
from . import ticket_cookie
from .metrics import request_seconds, route_label

ACCESS = logging.getLogger("oidc_adapter.access")
OPERATOR = logging.getLogger("oidc_adapter.operator")
#: Hex digits of a ticket's hash: enough to follow one visitor, useless to claim its turn.
TICKET_HASH_CHARS = 12


def setup_loggers() -> None:
    """INFO lines on stdout, unless the host process set up logging itself (then
    they go its way: a test's capture, an embedding app's handlers)."""
    for logger in (ACCESS, OPERATOR):
        logger.setLevel(logging.INFO)
        if not logger.hasHandlers():
            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(logging.Formatter("%(message)s"))
            logger.addHandler(handler)


def line(event: str, fields: dict[str, Any]) -> str:
    """JSON with `log_format = "json"`, else `TIME event key="value" ...` (the same fields)."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    if services().config.log_format == "json":
        return json.dumps({"time": now, "event": event, **fields}, separators=(",", ":"))
    return f"{now} {event}" + "".join(
        f" {key}={json.dumps(value)}" for key, value in fields.items()
    )


def ticket_hash(ticket: str | None) -> str | None:
    """A short HMAC of the ticket id under the instance secret (None: Redis is down
    before the secret was ever read, or no ticket)."""
    if not ticket:
        return None
    try:
        secret = services().secret
    except redis.RedisError:
        return None
    # surrogatepass: a path or body may carry lone surrogates; they still hash.
    mac = hmac.new(
        secret.encode(), f"log:{ticket}".encode("utf-8", "surrogatepass"), hashlib.sha256
    )
    return mac.hexdigest()[:TICKET_HASH_CHARS]


def request_room() -> str | None:
    """The room in the path, or the one of the client an /authorize request names."""
    room = (request.view_args or {}).get("room")
    if room is None:
        try:
            client_id = request.values.get("client_id", "")
        except HTTPException:  # a body the app refused (too large, malformed): no client
            client_id = ""
        client = services().config.clients.get(client_id)
        room = client.room if client is not None else None
    return room if room in services().config.rooms else None


def request_ticket(room: str | None) -> str | None:
    """The ticket in the path, else the browser's ticket cookie for the room."""
    ticket = (request.view_args or {}).get("ticket")
    if ticket is None and room is not None:
        try:
            cookie = ticket_cookie.read(request, services().secret, room)
        except redis.RedisError:
            return None
        ticket = cookie.ticket if cookie is not None else None
    return ticket


def _log_request(response: Response) -> Response:
    room = request_room()
    fields = {
        "method": request.method,
        "route": route_label(),
        "status": response.status_code,
        "latency_ms": round(request_seconds() * 1000, 3),
        "client": request.remote_addr,
        "room": room,
        "ticket": ticket_hash(request_ticket(room)),
    }
    ACCESS.info(line("request", fields))
    return response


def log_operator_action(who: str | None, action: str, status: int, **details: Any) -> None:
    """One line per admin API action, refused ones included (`who` is None then)."""
    fields = {"who": who, "action": action, "status": status, "client": request.remote_addr}
    OPERATOR.info(line("operator_action", {**fields, **details}))


def register_access_log(app: Flask, config: Config) -> None:
    setup_loggers()
    if config.log_format == "json":
        app.after_request(_log_request)
