-- The pre-queue's order as this room computes it, for `room audit`: the
-- ticket numbers at places first .. first + count - 1 (at most P). Read
-- only: the room is not advanced. ARGV: now_ms, first, count.
local s, st = begin()
if not s then return {'unknown_room'} end
local first = math.max(1, tonumber(ARGV[2]))
local last = math.min(st.prequeue_size, first + tonumber(ARGV[3]) - 1)
local numbers = {}
for place = first, last do numbers[#numbers + 1] = shuffled(st, place, true) end
return {false, 'prequeue_size', st.prequeue_size, 'numbers', numbers}
