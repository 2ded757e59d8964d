-- Operator admission of the next `count` waiting tickets, outside the rate
-- but never past max_active. ARGV: now_ms, count.
local s, st = begin()
if not s then return {'unknown_room'} end
advance(st, s)
local admitted = serve(st, s, tonumber(ARGV[2]))
save_state(st)
local out = summary(st, s)
out[R.admitted_now] = admitted
return out
