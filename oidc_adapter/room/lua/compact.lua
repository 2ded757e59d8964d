-- Forget the id -> number records of ended tickets (done, abandoned, expired,
-- revoked) whose state has not changed for `retention` seconds. Only ids given
-- out before ids carried their own number have such a record; they were most
-- of a room's memory, and nobody polls a ticket that ended an hour ago.
-- ARGV: now_ms, HSCAN cursor, batch size, retention seconds.
-- Returns {next cursor, tickets forgotten}; cursor '0' means a full pass.
local s, st = begin()
if not s then return {'unknown_room'} end
local scan = redis.call('HSCAN', K_IDS, ARGV[2], 'COUNT', tonumber(ARGV[3]))
local entries = scan[2]
local forget = {}
local horizon = st.room_s - tonumber(ARGV[4])
for i = 1, #entries, 2 do
  local n = tonumber(entries[i + 1])
  if get_state(n) >= DONE and get_changed(n) <= horizon then
    forget[#forget + 1] = entries[i]
  end
end
if #forget > 0 then redis.call('HDEL', K_IDS, unpack(forget)) end
return {false, 'cursor', scan[1], 'forgotten', #forget}
