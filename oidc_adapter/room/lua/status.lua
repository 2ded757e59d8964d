-- A ticket's status. ARGV: now_ms, id, beat ('1' counts as a heartbeat), seed,
-- commitment (see commit_seed).
-- The heartbeat is recorded before the room advances, so a ticket that is
-- polling right now is never swept as abandoned by its own poll.
local s, st = begin()
if not s then return {'unknown_room'} end
local id = ARGV[2]
local n = ticket_number(st, id)
if not n then return {'unknown_ticket'} end
commit_seed(st, s, ARGV[4], ARGV[5])
if ARGV[3] == '1' and get_state(n) == WAITING then heartbeat(st, s, n) end
advance(st, s)
save_state(st)
return describe(st, s, id, n)
