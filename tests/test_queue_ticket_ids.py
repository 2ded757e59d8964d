"""Ticket ids carry their queue number and prove it: nothing is stored per id,
a forged or stale id is unknown, and ids from before the change still work."""

import pytest

from oidc_adapter.room.engine import RoomEngine, UnknownTicket
from oidc_adapter.room.settings import RoomSettings
from oidc_adapter.web.validate import TICKET_ID


@pytest.fixture
def engine(redis_client, clock):
    rooms = {
        "shop": RoomSettings(admit_per_minute=0, waiting_grace_seconds=600),
        "other": RoomSettings(admit_per_minute=0, waiting_grace_seconds=600),
    }
    engine = RoomEngine(redis_client, rooms, clock)
    engine.sync_settings()
    return engine


def test_an_id_carries_its_number_and_nothing_is_stored_per_id(engine, redis_client):
    tickets = [engine.take("shop") for _ in range(3)]
    assert [t.number for t in tickets] == [1, 2, 3]
    assert all(TICKET_ID.fullmatch(t.ticket) for t in tickets)  # the form ids always had
    assert len({t.ticket for t in tickets}) == 3
    assert redis_client.exists("wr:{shop}:ids") == 0
    assert engine.status("shop", tickets[1].ticket).number == 2
    assert engine.take("shop", tickets[2].ticket).ticket == tickets[2].ticket  # a reload


def _changed(ticket: str, at: int) -> str:
    swapped = "0" if ticket[at] != "0" else "1"
    return ticket[:at] + swapped + ticket[at + 1 :]


@pytest.mark.parametrize("at", [1, 8, 9, 21])  # the number, and the proof at both ends
def test_a_changed_id_is_unknown(engine, at):
    first, _ = engine.take("shop"), engine.take("shop")
    with pytest.raises(UnknownTicket):
        engine.status("shop", _changed(first.ticket, at))


def test_an_id_is_good_only_in_its_room_and_until_the_room_is_reset(engine):
    ticket = engine.take("shop")
    engine.take("other")
    with pytest.raises(UnknownTicket):
        engine.status("other", ticket.ticket)  # same number, another room's key
    engine.reset("shop")
    fresh = engine.take("shop")
    assert fresh.number == ticket.number == 1
    assert fresh.ticket != ticket.ticket
    with pytest.raises(UnknownTicket):
        engine.status("shop", ticket.ticket)


def test_an_id_for_a_number_not_given_out_yet_is_unknown(engine, redis_client):
    """Even with the room's key, a number past the last one given out is refused."""
    engine.take("shop")
    with pytest.raises(UnknownTicket):
        engine.status("shop", "v" + "0" * 7 + "9" + "0" * 13)


def test_an_id_whose_number_was_given_out_again_is_unknown(engine, redis_client):
    """A failover that lost a take gives its number out again, at another
    second: the id of the lost take must not become the new ticket's."""
    ticket = engine.take("shop")
    taken_at = redis_client.bitfield("wr:{shop}:tt").get("u32", "#1").execute()[0]
    redis_client.bitfield("wr:{shop}:tt").set("u32", "#1", taken_at + 5).execute()
    with pytest.raises(UnknownTicket):
        engine.status("shop", ticket.ticket)
