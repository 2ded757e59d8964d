-- Empty a room: every ticket, session and counter goes; settings stay.
-- ARGV: now_ms.
local s, st = begin()
if not s then return {'unknown_room'} end
redis.call('DEL', unpack(data_keys()))
st = load_state(st.now_ms, s)
build_live_blocks(st)
advance(st, s)
save_state(st)
return summary(st, s)
