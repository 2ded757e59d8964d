-- The public state of a room, after bringing it up to now. ARGV: now_ms,
-- seed, commitment (see commit_seed).
local s, st = begin()
if not s then return {'unknown_room'} end
commit_seed(st, s, ARGV[2], ARGV[3])
advance(st, s)
save_state(st)
return summary(st, s)
