-- End a ticket's turn now. ARGV: now_ms, id, final state ('done' when the
-- site ends a session early, 'revoked' when an operator removes it). Frees
-- its slot at once, whatever state it was in.
local s, st = begin()
if not s then return {'unknown_room'} end
local id = ARGV[2]
local n = ticket_number(st, id)
if not n then return {'unknown_ticket'} end
local final = (ARGV[3] == 'done') and DONE or REVOKED
local state = get_state(n)
if state == WAITING then
  leave_queue(st, n, final)
elseif state == SERVED then
  st.pending = st.pending - 1
  set_state(n, final)
elseif state == ADMITTED then
  local ends_ms = tonumber(redis.call('ZSCORE', K_SESSIONS, n)) or st.now_ms
  session_ended(st, s.session_seconds - math.max(0, ends_ms - st.now_ms) / 1000)
  st.sessions = st.sessions - redis.call('ZREM', K_SESSIONS, n)
  set_state(n, final)
end
advance(st, s)
save_state(st)
return describe(st, s, id, n)
