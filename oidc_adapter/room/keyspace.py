"""Redis key names of a room.

Every key shares the hash tag `{room}`, so a room's scripts touch one
cluster slot. The scripts receive the room's prefix and name the keys
`K_<NAME>` from this table (a header generated in `library.py`), so it is the
only place the layout is written down.
"""

from __future__ import annotations

#: (name the scripts use, stored suffix). The suffixes are short because they
#: are stored; never change one without migrating data.
ROOM_KEYS: tuple[tuple[str, str], ...] = (
    ("config", "cfg"),  # hash: settings from the config file
    ("overrides", "ovr"),  # hash: live operator changes on top of it
    ("state", "st"),  # hash: the room's counters (see STATE_FIELDS)
    ("ids", "ids"),  # hash: ticket id -> queue number, for ids from before they carried it
    ("taken_at", "tt"),  # bitfield u32 per number: when the ticket was taken
    ("changed_at", "at"),  # bitfield u32 per number: last heartbeat or state change
    ("ticket_states", "ts"),  # bitfield u8 per number: room.states.NUMBERS
    ("live", "live"),  # bitmap: waiting and not abandoned
    ("heartbeat_log", "log"),  # list: numbers in heartbeat-granule order
    ("claims", "cl"),  # list: served numbers in the order they were served
    ("sessions", "ses"),  # zset: admitted number -> session end (ms)
    ("rate", "rr"),  # string: admissions per rate bucket, a ring of slots
    ("rate_hash", "rt"),  # hash: the same before the ring; start-up migrates it
    ("series", "ser"),  # hash: 10 s bucket -> the counters then (room/series.py)
    ("waits", "wt"),  # list: recent real waits of served tickets, newest first
    ("live_blocks", "lb"),  # bitfield u32 per block of numbers: live bits in it
)
KEY_INDEX = {name: i for i, (name, _) in enumerate(ROOM_KEYS)}
#: The keys a reset keeps (the room's settings); it deletes every other one.
SETTINGS_KEYS = ("config", "overrides")


def room_prefix(room: str) -> str:
    """What every key of the room starts with; its hash tag is the room's slot.
    The scripts get only this (their one declared key) and name the rest."""
    return f"wr:{{{room}}}:"


def room_keys(room: str) -> list[str]:
    """Every key of the room, in ROOM_KEYS order."""
    return [room_prefix(room) + suffix for _, suffix in ROOM_KEYS]


def room_key(room: str, name: str) -> str:
    return room_keys(room)[KEY_INDEX[name]]
