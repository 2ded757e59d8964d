-- Per-source limit on new tickets: a token bucket of `per_minute` tokens that
-- refills continuously, one bucket per room and client source, in the room's
-- key slot. KEYS[1]: the bucket. ARGV: now_ms ('' = the Redis server's clock),
-- per_minute. Returns {1, 0} when a ticket may be taken (one token spent), or
-- {0, ms until a token is back} with nothing spent.
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local size = tonumber(ARGV[2])
local per_ms = size / 60000
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(saved[1]) or size
local at = tonumber(saved[2]) or now
tokens = math.min(size, tokens + math.max(0, now - at) * per_ms)
if tokens < 1 then
  return {0, math.ceil((1 - tokens) / per_ms)}
end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
-- Forgotten once full again: an idle source costs no memory.
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((size - tokens) / per_ms)))
return {1, 0}
