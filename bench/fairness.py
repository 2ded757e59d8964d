"""Fairness simulation (issue 9): do users who follow the server's hints keep
their turn, does the room keep its configured rate, and do the wait
estimates hold?

    python -m bench.fairness [--seed 9] [--only steady-auto,outages]

Each scenario runs a fresh room on a throwaway redis-server (127.0.0.1, a
free port, append-only file on) behind two app instances, with Poisson
arrivals, people who give up, early logouts, live changes and outages, all
through the HTTP API (see `fairness_world.py`). Time is simulated on the
apps' manual clock, so the whole run takes a few minutes and a seed always
gives the same numbers. Prints Markdown tables; docs/fairness.md records a run.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from .fairness_world import User, World, arrive, settle

WARMUP_S = 60
SAMPLE_EVERY_S = 5
#: Estimates shown this long after a live change must already reflect it.
REFLECT_S = 5
#: ...and are judged over this window after it.
JUDGED_S = 60
DRAIN_LIMIT_S = 3600


@dataclass(frozen=True)
class Scenario:
    name: str
    settings: dict[str, Any]
    arrivals_per_s: float
    minutes: float
    burst: int = 0
    quit_share: float = 0.2
    quit_within_s: float = 300
    exit_share: float = 0.0
    #: (seconds, label, action): operator changes and outages.
    events: tuple[tuple[float, str, Callable[[World], None]], ...] = ()
    #: Rate-bound the whole run: the realised rate is compared with the setting.
    rate_bound: bool = True


def room(mode: str = "auto", rate: int = 60, claim: int = 15, **extra: Any) -> dict[str, Any]:
    return {
        "admit_per_minute": rate,
        "max_active": 0,
        "waiting_grace_seconds": 120,
        "claim_seconds": claim,
        "mode": mode,
        **extra,
    }


def redis_down(seconds: float, world: World) -> None:
    world.redis.stop()
    world.after(seconds, world.redis.start)


def change(settings: dict[str, Any], world: World) -> None:
    world.admin("PATCH", "/settings", json=settings)


def set_mode(action: str, world: World) -> None:
    world.admin("POST", f"/{action}")


SCENARIOS = (
    Scenario("steady-auto", room("auto"), 1.1, 10, burst=60),
    Scenario("steady-queue_all", room("queue_all"), 1.1, 10, burst=60),
    Scenario("slow-polls-auto", room("auto", 600, claim=120), 11, 4, burst=300),
    Scenario("slow-polls-queue_all", room("queue_all", 600, claim=120), 11, 4, burst=300),
    Scenario("trickle-queue_all", room("queue_all"), 0.7, 10),
    Scenario("demo", room("queue_all", 12, claim=60, waiting_grace_seconds=60), 0.21, 10),
    Scenario(
        "capped-auto",
        room("auto", 600, max_active=40, session_seconds=120),
        0.45,
        12,
        burst=60,
        exit_share=0.3,
        rate_bound=False,
    ),
    Scenario(
        "outages-queue_all",
        room("queue_all"),
        1.1,
        12,
        burst=60,
        events=(
            (180, "Redis down 10 s", partial(redis_down, 10)),
            (300, "app restarted", lambda w: w.restart_app(0)),
            (420, "Redis down 25 s", partial(redis_down, 25)),
            (540, "Redis restarted", partial(redis_down, 0.5)),
        ),
    ),
    Scenario(
        "live-changes",
        room("auto", 60, claim=60, max_active=400, session_seconds=120),
        1.1,
        30,
        burst=60,
        exit_share=0.2,
        rate_bound=False,
        events=(
            (300, "rate 60 -> 20 /min", partial(change, {"admit_per_minute": 20})),
            (600, "rate 20 -> 60 /min", partial(change, {"admit_per_minute": 60})),
            (900, "max_active 400 -> 40", partial(change, {"max_active": 40})),
            (1200, "max_active 40 -> 400", partial(change, {"max_active": 400})),
            (1500, "pause", partial(set_mode, "pause")),
            (1560, "resume", partial(set_mode, "resume")),
        ),
    ),
)


def populate(world: World, scenario: Scenario, rng: random.Random) -> None:
    """Schedule the arrivals: a burst at the start, then a Poisson stream."""
    at, times = 0.0, [0.0] * scenario.burst
    while True:
        at += rng.expovariate(scenario.arrivals_per_s)
        if at >= scenario.minutes * 60:
            break
        times.append(at)
    session = scenario.settings.get("session_seconds", 1800)
    for t in times:
        user = User(arrive_ms=world.start_ms + int(t * 1000))
        if rng.random() < scenario.quit_share:
            user.quits_ms = user.arrive_ms + int(rng.uniform(0, scenario.quit_within_s) * 1000)
        if rng.random() < scenario.exit_share:
            user.session_s = rng.uniform(0, session)
        world.users.append(user)
        world.at(t, partial(arrive, world, user))


def simulate(scenario: Scenario, seed: int, workdir: Path) -> World:
    world = World(workdir, scenario.settings)
    try:
        populate(world, scenario, random.Random(seed))
        for at, _, action in scenario.events:
            world.at(at, partial(action, world))
        world.sample(SAMPLE_EVERY_S)
        end = scenario.minutes * 60
        world.run(end)
        while any(u.obedient and u.outcome is None for u in world.users):
            if world.seconds() > end + DRAIN_LIMIT_S:
                break
            world.run(world.seconds() + 60)
        settle(world)
    finally:
        world.stop()
    return world


# -- measures -------------------------------------------------------------------


def realised_rate(world: World, until_s: float) -> float | None:
    """Admissions per minute from the warm-up to `until_s`, if people waited throughout."""
    start = world.start_ms + WARMUP_S * 1000
    end = world.start_ms + until_s * 1000
    inside = [s for s in world.samples if start <= s[0] <= end]
    if len(inside) < 2 or any(waiting == 0 for _, _, waiting in inside):
        return None
    (t0, served0, _), (t1, served1, _) = inside[0], inside[-1]
    return (served1 - served0) / (t1 - t0) * 60_000


def judge(shown: Sequence[tuple[int, dict[str, Any], int]]) -> tuple[int, float, float, float]:
    """(estimates, share whose range held the real wait, median midpoint error,
    the same in seconds) for (shown at ms, estimate, served at s) triples."""
    if not shown:
        return 0, float("nan"), float("nan"), float("nan")
    held, errors, seconds = 0, [], []
    for at_ms, estimate, served_s in shown:
        # Turns are recorded in whole seconds: the real wait is within this second.
        shortest, longest = served_s - at_ms / 1000, served_s + 1 - at_ms / 1000
        held += estimate["low"] <= longest and shortest <= estimate["high"]
        real = max(0.0, (shortest + longest) / 2)
        seconds.append(abs(estimate["seconds"] - real))
        errors.append(seconds[-1] / max(real, 1.0))
    return len(shown), held / len(shown), statistics.median(errors), statistics.median(seconds)


def first_estimates(world: World, since_s: float, until_s: float) -> list:
    """The estimate each user saw when taking a ticket in the window, for those
    served inside it too (steady state: no change or outage in between)."""
    lo, hi = world.start_ms + since_s * 1000, world.start_ms + until_s * 1000
    return [
        (u.estimates[0][0], u.estimates[0][1], u.served_s)
        for u in world.users
        if u.estimates and u.estimates[0][1] and u.served_s is not None
        if lo <= u.arrive_ms and u.served_s * 1000 < hi
    ]


def shown_between(world: World, since_s: float, until_s: float, served_by_s: float) -> list:
    """Every estimate shown in the window to a user served before `served_by_s`."""
    lo, hi = world.start_ms + since_s * 1000, world.start_ms + until_s * 1000
    by = (world.start_ms + served_by_s * 1000) / 1000
    return [
        (at, estimate, u.served_s)
        for u in world.users
        if u.served_s is not None and u.served_s < by
        for at, estimate in u.estimates
        if estimate and lo <= at < hi
    ]


def pace_shown(world: World, since_s: float, until_s: float) -> str:
    """The admission pace the answers in the window assumed (median), or how
    many had no estimate."""
    lo, hi = world.start_ms + since_s * 1000, world.start_ms + until_s * 1000
    shown = [e for u in world.users for at, e in u.estimates if lo <= at < hi]
    paces = [e["rate_per_minute"] for e in shown if e]
    if not paces:
        return f"no estimate ({len(shown)})" if shown else "–"
    return f"{statistics.median(paces):.0f}/min"


def summarise(scenario: Scenario, world: World) -> dict[str, str]:
    users = world.users
    obedient = [u for u in users if u.obedient]
    lost = [u for u in obedient if u.outcome not in ("admitted", None)]
    quitters_served = sum(1 for u in users if not u.obedient and u.outcome == "expired")
    configured = scenario.settings["admit_per_minute"]
    rate = realised_rate(world, scenario.minutes * 60) if scenario.rate_bound else None
    first_change = min((at for at, _, _ in scenario.events), default=scenario.minutes * 60)
    n, held, error, seconds = judge(first_estimates(world, WARMUP_S, first_change))
    return {
        "scenario": scenario.name,
        "users (gave up)": f"{len(users)} ({len(users) - len(obedient)})",
        "rate /min: set → realised": (
            f"{configured} → {rate:.1f} ({rate / configured:.1%})" if rate else f"{configured} → –"
        ),
        "lost turns (followed hints)": str(len(lost)),
        "gave up, served anyway": str(quitters_served),
        "first estimates": str(n),
        "range held": f"{held:.1%}",
        "median midpoint error": f"{error:.1%} ({seconds:.1f} s)",
    }


def change_rows(scenario: Scenario, world: World) -> list[dict[str, str]]:
    rows = []
    times = [at for at, _, _ in scenario.events] + [world.seconds()]
    for (at, label, _), following in zip(scenario.events, times[1:], strict=False):
        late = judge(shown_between(world, at + REFLECT_S, at + REFLECT_S + JUDGED_S, following))
        rows.append(
            {
                "scenario": scenario.name,
                "at": f"{at:.0f} s",
                "change": label,
                "pace assumed, 10 s before": pace_shown(world, at - 10, at),
                f"first {REFLECT_S} s after": pace_shown(world, at, at + REFLECT_S),
                f"{REFLECT_S}–{REFLECT_S + 10} s after": pace_shown(
                    world, at + REFLECT_S, at + REFLECT_S + 10
                ),
                f"range held, {REFLECT_S}–{REFLECT_S + JUDGED_S} s after": (
                    f"{late[1]:.1%} of {late[0]}" if late[0] else "–"
                ),
                "median midpoint error": f"{late[2]:.1%} ({late[3]:.1f} s)" if late[0] else "–",
            }
        )
    return rows


def table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return ""
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row[h] for h in head) + " |" for row in rows]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.disable(logging.WARNING)  # the apps log every 503 of the outages
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only.split(",")]
    summary, changes = [], []
    with tempfile.TemporaryDirectory(prefix="fairness-") as tmp:
        for scenario in chosen:
            seed = args.seed + SCENARIOS.index(scenario)
            world = simulate(scenario, seed, Path(tmp) / scenario.name)
            summary.append(summarise(scenario, world))
            changes += change_rows(scenario, world)
            print(f"{scenario.name}: {world.seconds():.0f} simulated seconds", flush=True)
    print()
    print(table(summary))
    print()
    print(table(changes))


if __name__ == "__main__":
    main()
