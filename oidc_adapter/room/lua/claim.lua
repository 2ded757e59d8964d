-- A served ticket logs in: its admitted session starts and counts against
-- max_active until it expires, ends or is revoked. Claiming again returns
-- the same session. ARGV: now_ms, id.
local s, st = begin()
if not s then return {'unknown_room'} end
local id = ARGV[2]
local n = ticket_number(st, id)
if not n then return {'unknown_ticket'} end
advance(st, s)
if get_state(n) == SERVED then
  set_state(n, ADMITTED)
  set_changed(n, st.room_s)
  st.pending = st.pending - 1
  st.admitted = st.admitted + 1
  local ends_ms = st.now_ms + s.session_seconds * 1000
  st.sessions = st.sessions + redis.call('ZADD', K_SESSIONS, ends_ms, n)
  session_booked(st, ends_ms)
end
save_state(st)
return describe(st, s, id, n)
