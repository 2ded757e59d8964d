-- Empty a room: every ticket, session and counter goes; settings stay.
-- ARGV: now_ms.
local s, st = begin()
if not s then return {'error', 'unknown_room'} end
redis.call('DEL', K_ST, K_IDS, K_TT, K_AT, K_TS, K_LIVE, K_LOG, K_CL, K_SES, K_RT)
st = load_state(st.now_ms)
advance(st, s)
save_state(st)
return summary(st, s)
