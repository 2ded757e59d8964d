"""The room's Lua, as one Redis function library loaded once per server.

Every room script shares the `_room.lua` prelude (about seventy local
functions). Run as EVALSHA, each call re-creates all of them before doing
anything: measured on Redis 7.0, that alone was a third of a status call's
Redis time. In a function library the prelude runs once, at load, and each
script is a registered function whose body runs per call (FCALL).

The library is a generated header (state numbers, timing, key names: the
Python tables are the only source), the prelude, and one
`redis.register_function` per script file. Its name and every function name
carry a digest of the code, so two versions of the app (a rolling upgrade)
each call their own code, and a server that does not have this version
(a new server, FUNCTION FLUSH, a restart without persistence) is told so
by "Function not found", upon which the caller loads it and retries.
Functions are persisted and replicated with the data, so a promoted
replica already has them.

Servers without functions (Redis 6: the embedded server of the demo) run
the same text as EVALSHA scripts, prelude inlined; the first call tells
which kind of server this is.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources

import redis

from . import timing
from .keyspace import ROOM_KEYS, SETTINGS_KEYS
from .results import REPLY
from .states import NUMBERS

SCRIPT_NAMES = (
    "take",
    "status",
    "room",
    "configure",
    "admit",
    "claim",
    "finish",
    "reset",
    "compact",
    "migrate",
    "order",
)

#: Lua name -> constant of `timing.py`.
TIMING_NAMES = (
    ("GRANULE", "HEARTBEAT_GRANULE_SECONDS"),
    ("RATE_BUCKET", "RATE_BUCKET_SECONDS"),
    ("RATE_KEEP", "RATE_BUCKETS_KEPT"),
    ("SERIES_BUCKET", "SERIES_BUCKET_SECONDS"),
    ("SERIES_KEEP", "SERIES_BUCKETS_KEPT"),
    ("WAITS_KEEP", "WAITS_KEPT"),
    ("WAITS_PER_BUCKET", "WAITS_PER_BUCKET"),
    ("POLLS_PER_WINDOW", "POLLS_PER_WINDOW"),
    ("POLL_MIN", "POLL_MIN_SECONDS"),
    ("POLL_MAX", "POLL_MAX_SECONDS"),
    ("OVERDUE_POLLS", "OVERDUE_POLLS"),
    ("SESSION_MEAN_OVER", "SESSION_MEAN_OVER"),
)

#: Key names as the prelude sees them, in KEYS order.
KEY_NAMES = tuple(f"K_{name.upper()}" for name, _ in ROOM_KEYS)

#: The room's counters, stored packed in this order (see the head of
#: _room.lua for what each means). Append only: a stored room's packed
#: counters are read in this order.
COUNTERS = (
    "seq", "cursor", "waiting", "pending", "tokens", "tokens_at_ms", "heartbeat_granule",
    "served", "admitted", "abandoned", "expired", "rate_bucket", "lost_ms", "session_mean_s",
    "opened_s", "prequeue_size", "shuffle_cursor", "block_live", "sessions",
    "log_head_granule", "claims_head_s", "sessions_next_ms", "live_blocks_built",
)  # fmt: skip
#: The settings the scripts read, cached in this order (see settings in _room.lua).
NUMERIC_SETTINGS = (
    "admit_per_minute", "max_active", "session_seconds", "waiting_grace_seconds",
    "claim_seconds", "opens_at", "prequeue_seconds", "closes_at",
)  # fmt: skip


#: Numbers per block of the live counts (see live_between in _room.lua).
LIVE_BLOCK = 16384


def _records(name: str, fields: tuple[str, ...], extra: tuple[str, ...] = ()) -> list[str]:
    """A field list, and table constructors written out field by field: a Lua
    table built by a constructor is sized once, one filled in a loop grows and
    rehashes, which was a measurable part of every call. `extra` fields get a
    slot (false) for the caller to fill."""
    numbered = list(enumerate(fields, 1))
    slots = [f"{f} = v[{i}]" for i, f in numbered] + [f"{f} = false" for f in extra]
    return [
        f"local {name} = {{" + ", ".join(f"'{f}'" for f in fields) + "}",
        f"local function {name.lower()}_from(v)",
        "  return {" + ", ".join(slots) + "}",
        "end",
        f"local function {name.lower()}_values(t)",
        "  return {" + ", ".join(f"t.{f}" for f in fields) + "}",
        "end",
    ]


def lua_header(functions: bool = True) -> str:
    """The constants every script shares, written from the Python tables; the
    keys and ARGV of the current call are bound by `bind` as each function starts.
    `functions`: for Redis 7 and later, which also count bit ranges (BITCOUNT
    ... BIT); the EVALSHA form for Redis 6 counts whole bytes and trims them."""
    ordered = sorted(NUMBERS, key=NUMBERS.__getitem__)
    lines = [f"local {name.upper()} = {NUMBERS[name]}" for name in ordered]
    lines.append("local STATE_NAMES = {" + ", ".join(f"'{name}'" for name in ordered) + "}")
    lines += [f"local {name} = {getattr(timing, source)}" for name, source in TIMING_NAMES]
    lines += _records("COUNTERS", COUNTERS) + _records("SETTINGS", NUMERIC_SETTINGS, ("mode",))
    lines.append("local COUNTER_INDEX = {" + ", ".join(
        f"{f} = {i}" for i, f in enumerate(COUNTERS, 1)) + "}")  # fmt: skip
    lines.append(f"local LIVE_BLOCK = {LIVE_BLOCK}")
    lines.append(f"local BIT_RANGES = {'true' if functions else 'false'}")
    # The reply's positions (results.REPLY), and a reply of that size to fill.
    lines.append("local R = {" + ", ".join(f"{f} = {i}" for i, f in enumerate(REPLY, 1)) + "}")
    lines.append(
        "local function new_reply() return {" + ", ".join(["false"] * len(REPLY)) + "} end"
    )
    keys = ", ".join(KEY_NAMES)
    suffixes = ", ".join(f"p .. '{suffix}'" for _, suffix in ROOM_KEYS)
    lines += [
        f"local {keys}",
        "local ARGV",
        "-- The call declares one key, the room's prefix (its hash tag is the",
        "-- room's slot); the key names made from it are kept per prefix.",
        "local key_sets = {}",
        "local function bind(keys, args)",
        "  local p = keys[1]",
        "  local set = key_sets[p]",
        f"  if not set then set = {{{suffixes}}} key_sets[p] = set end",
        f"  {keys} = unpack(set)",
        "  ARGV = args",
        "end",
        "-- Every key of the room but its settings (what a reset deletes).",
        "local function data_keys() return {"
        + ", ".join(f"K_{name.upper()}" for name, _ in ROOM_KEYS if name not in SETTINGS_KEYS)
        + "} end",
    ]
    return "\n".join(lines) + "\n"


def _lua(name: str) -> str:
    return (resources.files(__package__) / "lua" / f"{name}.lua").read_text()


def registered(function: str, body: str) -> str:
    """`body` (a script file's text) as a function of the library named `function`."""
    head = f"redis.register_function('{function}', function(keys, args)\nbind(keys, args)\n"
    return f"{head}{body}\nend)\n"


@cache
def _library() -> tuple[str, str]:
    """(prefix of every function name, the library's text)."""
    bodies = "".join(registered(f"@{name}", _lua(name)) for name in SCRIPT_NAMES)
    code = "\n".join((lua_header(), _lua("_room"), bodies))
    prefix = "wr_" + hashlib.sha1(code.encode(), usedforsecurity=False).hexdigest()[:16]
    return prefix, f"#!lua name={prefix}\n" + code.replace("'@", f"'{prefix}_")


def library_source() -> str:
    return _library()[1]


def function_prefix() -> str:
    """What every function name of this library starts with."""
    return _library()[0]


@cache
def script_source(name: str) -> str:
    """`name` as a stand-alone script, for servers without functions."""
    # The header's own ARGV shadows the global one: take both first.
    call = "local CALL_KEYS, CALL_ARGV = KEYS, ARGV"
    header = lua_header(functions=False)
    return "\n".join((call, header, _lua("_room"), "bind(CALL_KEYS, CALL_ARGV)", _lua(name)))


@cache
def _sha(name: str) -> str:
    return hashlib.sha1(script_source(name).encode(), usedforsecurity=False).hexdigest()


#: A command that runs a room script: ("FCALL" | "EVALSHA", name or sha, numkeys, ...).
Command = tuple[object, ...]


class Functions:
    """Redis 7 and later: the library, called by function name."""

    def command(self, script: str, keys: list[str], args: list[object]) -> Command:
        return ("FCALL", f"{function_prefix()}_{script}", len(keys), *keys, *args)

    def is_missing(self, exc: redis.ResponseError) -> bool:
        return str(exc).startswith("Function not found")

    def load(self, node: redis.Redis) -> None:
        """Loading it again (another worker just did) is harmless."""
        node.function_load(library_source(), replace=True)


class Scripts:
    """Redis 6 (the embedded server of the demo): each script with the prelude
    inlined, by SHA, at the per-call cost described above."""

    def command(self, script: str, keys: list[str], args: list[object]) -> Command:
        return ("EVALSHA", _sha(script), len(keys), *keys, *args)

    def is_missing(self, exc: redis.ResponseError) -> bool:
        return isinstance(exc, redis.exceptions.NoScriptError)

    def load(self, node: redis.Redis) -> None:
        for name in SCRIPT_NAMES:
            node.script_load(script_source(name))


def lacks_functions(exc: redis.ResponseError) -> bool:
    """The server predates functions (FCALL is an unknown command there)."""
    return str(exc).startswith("unknown command") and "FCALL" in str(exc).upper()
