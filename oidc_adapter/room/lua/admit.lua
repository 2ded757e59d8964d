-- Operator admission of the next `count` waiting tickets, outside the rate
-- but never past max_active. ARGV: now_ms, count.
local s, st = begin()
if not s then return {'error', 'unknown_room'} end
advance(st, s)
local admitted = serve(st, s, tonumber(ARGV[2]))
save_state(st)
local out = summary(st, s)
out[#out + 1] = 'admitted_now'
out[#out + 1] = admitted
return out
