-- The public state of a room, after bringing it up to now. ARGV: now_ms.
local s, st = begin()
if not s then return {'error', 'unknown_room'} end
advance(st, s)
save_state(st)
return summary(st, s)
