"""Ticket states: the one list of names and the numbers Redis stores them as.

The Lua scripts get these numbers from here (a generated header, see
`scripts.py`), so Python and Lua cannot disagree about what a stored byte
means.
"""

from __future__ import annotations

WAITING = "waiting"
SERVED = "served"
ADMITTED = "admitted"
DONE = "done"
ABANDONED = "abandoned"
EXPIRED = "expired"
REVOKED = "revoked"

#: Stored as one byte per ticket; 0 means "no such ticket". Never renumber.
NUMBERS: dict[str, int] = {
    WAITING: 1,
    SERVED: 2,
    ADMITTED: 3,
    DONE: 4,
    ABANDONED: 5,
    EXPIRED: 6,
    REVOKED: 7,
}

#: Still in the game: in line, or holding a turn.
LIVE = (WAITING, SERVED, ADMITTED)
#: The ticket's turn has come: it may log in (served) or already has (admitted).
TURN = (SERVED, ADMITTED)
#: How a turn may be ended on purpose: by its holder or site, or by an operator.
FINAL_BY_REQUEST = (DONE, REVOKED)
