-- Bring a room stored by an older version to the current layout, so an
-- upgrade keeps every place in line and the room's history. Runs once per
-- room at start-up; a no-op when there is nothing to change.
-- The room counters stored under their old abbreviations get the names of
-- COUNTERS (library.py).
local renamed = 0
for old, new in pairs({cur = 'cursor', tts = 'tokens_at_ms', hbg = 'heartbeat_granule',
                       rtb = 'rate_bucket'}) do
  local value = redis.call('HGET', K_STATE, old)
  if value then
    redis.call('HSETNX', K_STATE, new, value)
    redis.call('HDEL', K_STATE, old)
    renamed = renamed + 1
  end
end
-- The admission history, a hash of bucket -> count before it was a ring
-- (record_rate): the buckets still inside the kept window move to the ring.
local s, st = begin()
local history = redis.call('HGETALL', K_RATE_HASH)
if s and #history > 0 then
  for i = 1, #history, 2 do
    local b = tonumber(history[i])
    if b > st.rate_bucket - RATE_KEEP and b <= st.rate_bucket then
      set_rate(b, tonumber(history[i + 1]))
    end
  end
end
redis.call('DEL', K_RATE_HASH)
return {false, 'renamed', renamed}
