-- Empty a room: every ticket, session and counter goes; settings stay.
-- ARGV: now_ms.
local s, st = begin()
if not s then return {'unknown_room'} end
redis.call('DEL', K_STATE, K_IDS, K_TAKEN_AT, K_CHANGED_AT, K_TICKET_STATES, K_LIVE,
           K_HEARTBEAT_LOG, K_CLAIMS, K_SESSIONS, K_RATE, K_RATE_HASH, K_SERIES, K_WAITS,
           K_LIVE_BLOCKS)
st = load_state(st.now_ms, s)
build_live_blocks(st)
advance(st, s)
save_state(st)
return summary(st, s)
