-- Take a ticket. ARGV: now_ms, random (22 characters: the room's id key if it
-- has none yet), existing_id ('' if none), then a fresh seed and its
-- commitment for a timed sale (see commit_seed).
-- A caller that still holds a live ticket for the room gets it back, so
-- reloads and retries never lose a place or take a second one.
local s, st = begin()
if not s then return {'unknown_room'} end
local entropy, existing = ARGV[2], ARGV[3]

commit_seed(st, s, ARGV[4], ARGV[5])
local held = existing ~= '' and ticket_number(st, existing)
if held and get_state(held) == WAITING then heartbeat(st, s, held) end
-- The room catches up before a new ticket joins: it was not in line meanwhile.
advance(st, s)
if held then
  -- Judge liveness after advancing: a turn that lapsed since the last call
  -- (unclaimed, session over) is ended, and the caller gets a new ticket.
  local state = get_state(held)
  if state == WAITING or state == SERVED or state == ADMITTED then
    save_state(st)
    return describe(st, s, existing, held)
  end
end

local refused = refusal(st, s)
if refused then
  save_state(st)
  local out = summary(st, s)
  out[R.error] = refused
  return out
end
if not st.id_key then
  -- The room's first ticket since it was made or reset: the caller's random
  -- id becomes the room's id key.
  st.id_key = entropy
  redis.call('HSET', K_STATE, ID_KEY_FIELD, entropy)
end
st.seq = st.seq + 1
local n = st.seq
set_taken(n, st.now_s)
set_changed(n, st.room_s)
set_state(n, WAITING)
redis.call('SETBIT', K_LIVE, n, '1')
live_moved(n, 1)
st.waiting = st.waiting + 1
log_push(st, n)
admit_now(st, s)
save_state(st)
return describe(st, s, id_for(st, n, st.now_s), n)
