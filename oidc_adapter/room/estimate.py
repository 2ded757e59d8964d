"""Honest wait estimates, from the schedule the room keeps rather than a guess.

The room serves by schedule: one ticket per 1/rate seconds however often
anyone polls, and under `max_active` only as slots free, at times the scripts
report from the sessions' booked ends (`RoomView.slots`). So the time of the
n-th admission from now is known while the settings hold, and a change shows
in the very next answer. What is not known is how many of the people ahead
will leave first: the range runs from "few leave, sessions run their length"
to "many leave, sessions end as early as they have lately", and the estimate
is its middle. What the room cannot promise it does not estimate: a paused or
closed room, and one that admits only by hand (`admit_per_minute` = 0).

The admission rate measured from the rate history is still reported beside
the estimate (`measured_admit_per_minute`), for operators.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .results import RoomView, Slot
from .timing import RATE_BUCKET_SECONDS, RATE_BUCKETS_KEPT

WINDOW = RATE_BUCKET_SECONDS * RATE_BUCKETS_KEPT
#: Assume at least this share of the people ahead leave before their turn
#: (a new room has seen nobody leave yet), and at most this one.
MIN_LEAVE_SHARE = 0.05
MAX_LEAVE_SHARE = 0.5
#: Why there is no estimate, as the public JSON says it.
MANUAL = "manual_admission"
#: A timed sale before its opening: places are drawn at random then.
PREQUEUE = "prequeue"


@dataclass(frozen=True)
class WaitEstimate:
    seconds: int
    low: int
    high: int
    rate_per_minute: float

    def as_json(self) -> dict[str, float | int]:
        return {
            "seconds": self.seconds,
            "low": self.low,
            "high": self.high,
            "rate_per_minute": round(self.rate_per_minute, 1),
        }


def measured_rate_per_minute(room: RoomView) -> float | None:
    """Admissions per minute over the kept history, counted from the first
    admission on record when the room started admitting inside it: counting
    from the first admission *in the window* would overstate the pace of a
    room that admits in bursts (a full room letting people in as sessions end)."""
    buckets, now_s = room.rate_buckets, room.now_ms // 1000
    current = now_s // RATE_BUCKET_SECONDS
    first = current - WINDOW // RATE_BUCKET_SECONDS + 1
    inside = {b: c for b, c in buckets.items() if first <= b <= current and c > 0}
    if not inside:
        return None
    start = max(first, min(b for b, c in buckets.items() if c > 0)) * RATE_BUCKET_SECONDS
    elapsed = max(RATE_BUCKET_SECONDS, now_s - start + 1)
    return sum(inside.values()) / elapsed * 60


def unavailable(room: RoomView) -> str | None:
    """Why this room cannot promise a wait, or None when it can."""
    if room.before_opening:
        return PREQUEUE
    if room.mode in ("paused", "closed"):
        return room.mode
    if room.mode != "passthrough" and room.settings["admit_per_minute"] == 0:
        return MANUAL
    return None


def leave_shares(room: RoomView, ahead: int, number: int) -> tuple[float, float]:
    """Two readings of the share of people who leave the line before their turn
    (give up, stop polling, are removed): among the tickets between the last
    one served and ticket `number` (each still waiting or gone), and among all
    who ever left the room's line. The first is local but sees leavers only
    once they are noticed; the second is steady but slow to follow a change."""
    issued = max(0, number - room.cursor - 1)
    left_line = room.seq - room.waiting
    overall = (left_line - room.served) / left_line if left_line > 0 else 0.0
    local = (issued - ahead) / issued if issued > 0 else overall
    return local, overall


@dataclass(frozen=True)
class Outlook:
    """One reading of how the room will go from here: how long sessions last
    (`lately`: as long as they have lately, else their full length), how long
    a claim takes once a turn comes, and whether sessions held now end early
    at the pace seen lately."""

    lately: bool
    claim_polls: float


SLOW = Outlook(lately=False, claim_polls=1.0)
LIKELY = Outlook(lately=True, claim_polls=0.5)
FAST = Outlook(lately=True, claim_polls=0.0)


def _slot_seconds(room: RoomView, slot: Slot, outlook: Outlook) -> float:
    """Seconds until `slot` frees: the booked end of a session held now, then
    its rounds of sessions, each followed by a claim."""
    booked = max(0.0, slot.booked_ms - room.now_ms) / 1000
    full = room.settings["session_seconds"]
    session = min(full, room.session_mean_s or full) if outlook.lately else full
    return booked + slot.rounds * (session + outlook.claim_polls * room.poll_seconds)


def _early_exits_per_second(room: RoomView) -> float:
    """How many of the sessions held now end early per second, going by how
    long sessions have lasted lately (early exits spread evenly over a session
    shorten the mean by half of their share)."""
    full = room.settings["session_seconds"]
    used = min(1.0, (room.session_mean_s or full) / full)
    return 2 * (1 - used) * room.active / full


def _slot_wait(room: RoomView, admissions: float, outlook: Outlook) -> float:
    """Seconds until a slot under max_active frees for the `admissions`-th
    person from now, between the places the scripts reported (and the slots
    free now, which take no time). Read lately, sessions that end early free
    slots on top of those booked to end before then."""
    free = float(room.settings["max_active"] - room.active)
    last_place, last_wait, wait = free, 0.0, 0.0
    for slot in room.slots:
        if slot.place <= last_place:
            continue
        wait = _slot_seconds(room, slot, outlook)
        if admissions <= slot.place:
            share = (admissions - last_place) / (slot.place - last_place)
            wait = last_wait + max(0.0, share) * (wait - last_wait)
            break
        last_place, last_wait = slot.place, wait
    needed = admissions - free
    if not outlook.lately or needed <= 0:
        return wait
    # At the soonest every early exit is a slot more. Likelier, about half of
    # them are: a session booked to end before `wait` that ends early frees
    # its slot sooner, but that slot was counted already.
    later = 1.0 if outlook is FAST else 0.5
    return wait / (1 + _early_exits_per_second(room) * wait * later / needed)


def _seconds_until(admissions: float, room: RoomView, outlook: Outlook) -> float:
    """Seconds until the `admissions`-th admission from now: by the rate, and
    not before a slot frees under max_active."""
    by_rate = admissions / (room.settings["admit_per_minute"] / 60)
    return max(by_rate, _slot_wait(room, admissions, outlook)) if room.slots else by_rate


@dataclass(frozen=True)
class Leavers:
    """How many of the people ahead of a ticket will leave unserved: at least,
    most likely, and at most."""

    few: float
    likely: float
    many: float


def leavers(room: RoomView, ahead: int, number: int) -> Leavers:
    """The lower and the higher reading of the share, give or take two standard
    deviations (each one leaves or not, so the count is about Poisson), and
    their mean as the likely count. The high side assumes a small share even
    in a room nobody has left yet."""
    shares = leave_shares(room, ahead, number)
    expected = ahead * min(shares)
    cautious = ahead * min(MAX_LEAVE_SHARE, max(MIN_LEAVE_SHARE, *shares))
    few = max(0.0, expected - 2 * math.sqrt(expected))
    many = min(float(ahead), cautious + 2 * math.sqrt(cautious))
    return Leavers(few, min(many, max(few, ahead * sum(shares) / 2)), many)


def estimate_wait(room: RoomView, ahead: int, number: int) -> WaitEstimate | None:
    """Seconds until ticket `number`, with `ahead` people before it, is served
    (for a newcomer: the next number, behind everyone waiting), as a range from
    "many ahead leave, the next admission is due now, sessions are claimed at
    once" to "few leave, it is a whole interval away, each claim takes a poll",
    and the likely wait between them: the leavers and sessions seen lately,
    claims taking half a poll period."""
    if unavailable(room):
        return None
    rate = room.settings["admit_per_minute"]
    if room.mode == "passthrough":
        return WaitEstimate(0, 0, 0, float(rate))
    place = ahead + 1
    band = leavers(room, ahead, number)
    slow = _seconds_until(place - band.few, room, SLOW)
    fast = _seconds_until(place - 1 - band.many, room, FAST)
    likely = _seconds_until(place - 0.5 - band.likely, room, LIKELY)
    # A turn is noticed at the next call to the room: the waiting poll about
    # once per poll period each, so a quiet room notices up to a period late.
    notice = room.poll_seconds / max(1, room.waiting)
    low = math.floor(fast)
    high = math.ceil(slow + notice)
    return WaitEstimate(
        seconds=min(high, max(low, round(likely + notice / 2))),
        low=low,
        high=high,
        rate_per_minute=60 * place / slow if slow > 0 else float(rate),
    )
