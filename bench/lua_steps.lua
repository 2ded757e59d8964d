-- The status call's steps, stopping after the one named in ARGV[3]: the
-- bench (section lua-steps) times each stop, so the difference between two
-- stops is what that step costs. Registered next to the room's functions,
-- with the same prelude. ARGV: now_ms, id, stop, seed, commitment.
local stop = ARGV[3]
if stop == 'call' then return 1 end
local s, st = begin()
if stop == 'begin' then return 1 end
local id = ARGV[2]
local n = ticket_number(st, id)
if stop == 'id' then return 1 end
commit_seed(st, s, ARGV[4], ARGV[5])
if get_state(n) == WAITING then heartbeat(st, s, n) end
if stop == 'heartbeat' then return 1 end
advance(st, s)
if stop == 'advance' then return 1 end
save_state(st)
if stop == 'save' then return 1 end
local out = describe(st, s, id, n)
if stop == 'describe' then return 1 end
return out
