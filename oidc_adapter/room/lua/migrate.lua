-- Rename the room counters stored under their old abbreviations to the
-- names of COUNTERS (library.py), so an upgrade keeps every place in line. Runs
-- once per room at start-up; a no-op when there is nothing to rename.
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
return {false, 'renamed', renamed}
