"""The door a new visitor passes before its ticket is taken, for every way in
(the JSON take, and new browsers at /authorize and /wait through `door`).

Checked in an order that wastes nobody's work: the proof of work is verified
first (one hash, nothing stored), then the source's token bucket is spent,
then the solution is spent (so a visitor told to come back later keeps its
solution until it expires), then the CAPTCHA provider is asked, the only step
that leaves this machine. A visitor who still holds a live ticket passes
untouched: reloading the waiting page never costs a second proof.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from flask import current_app, request

from ..room.engine import UnknownTicket
from ..room.join_rules import JoinRules, read_join_rules
from ..services import Services, services
from . import join_cost
from .captcha import CaptchaRefused, verify_captcha
from .errors import ApiError

POW_SCHEME = "ProofOfWork"


@dataclass(frozen=True)
class JoinProof:
    """What a newcomer brings; any value may be missing or malformed."""

    pow_challenge: Any = None
    pow_counter: Any = None
    captcha_token: Any = None


class JoinRefused(ApiError):
    """No ticket for now: a JSON error on the API, a page at /authorize."""


def check_newcomer(room: str, existing: str | None, proof: JoinProof) -> None:
    """Raises JoinRefused unless a new ticket may be taken in `room` now."""
    svc = services()
    configured = svc.config.rooms.get(room)
    if configured is None:
        return  # the engine answers unknown_room
    rules = svc.join_rules.get(room, lambda: read_join_rules(svc.redis, room, configured))
    if not rules.guarded or _holds_live_ticket(svc, room, existing):
        return
    now = _now_s(svc)
    solved = _solved(svc, room, rules, proof, now) if rules.join_cost == "pow" else None
    if rules.tickets_per_ip_per_minute:
        _spend_source_token(svc, room, rules.tickets_per_ip_per_minute)
    if solved is not None and not join_cost.spend(svc.redis, solved, now):
        raise pow_required(svc, room, rules.pow_bits, now, "This challenge was already used.")
    if rules.captcha_provider != "none":
        try:
            verify_captcha(
                rules.captcha_provider,
                rules.captcha_secret_env,
                proof.captcha_token,
                request.remote_addr or "",
            )
        except CaptchaRefused as exc:
            if exc.status >= 500:
                current_app.logger.warning("captcha check for room %s: %s", room, exc.description)
            raise JoinRefused(exc.status, exc.error, exc.description) from None


def _now_s(svc: Services) -> int:
    return int((svc.clock() if svc.clock else time.time() * 1000) // 1000)


def _holds_live_ticket(svc: Services, room: str, existing: str | None) -> bool:
    if not existing:
        return False
    try:
        return svc.engine.status(room, existing, heartbeat=False).live
    except UnknownTicket:
        return False


def _solved(
    svc: Services, room: str, rules: JoinRules, proof: JoinProof, now: int
) -> join_cost.Challenge:
    if proof.pow_challenge is None:
        raise pow_required(svc, room, rules.pow_bits, now, "Solve this challenge to join.")
    challenge = join_cost.parse_challenge(svc.secret, room, proof.pow_challenge, now)
    if challenge is None or challenge.bits < rules.pow_bits:
        raise pow_required(svc, room, rules.pow_bits, now, "The challenge is unknown or expired.")
    if not join_cost.solves(challenge.text, proof.pow_counter, challenge.bits):
        raise pow_required(svc, room, rules.pow_bits, now, "The counter does not solve it.")
    return challenge


def pow_required(svc: Services, room: str, bits: int, now: int, why: str) -> JoinRefused:
    """A fresh challenge, with how to answer it (docs/operators.md, "Running a timed sale")."""
    return JoinRefused(
        401,
        "pow_required",
        f"{why} Find a decimal counter such that SHA-256(challenge + counter) starts with "
        f"{bits} zero bits, and send pow_challenge and pow_counter with the take.",
        {"WWW-Authenticate": f'{POW_SCHEME} realm="{room}"'},
        challenge=join_cost.new_challenge(svc.secret, room, bits, now),
        bits=bits,
        expires_in=join_cost.CHALLENGE_SECONDS,
    )


def _spend_source_token(svc: Services, room: str, per_minute: int) -> None:
    wait_ms = svc.source_limit.spend(room, request.remote_addr or "", per_minute)
    if wait_ms:
        retry_after = max(1, math.ceil(wait_ms / 1000))
        raise JoinRefused(
            429,
            "too_many_tickets",
            f"Too many new tickets from your network; try again in {retry_after} seconds.",
            {"Retry-After": str(retry_after)},
            retry_after=retry_after,
        )
