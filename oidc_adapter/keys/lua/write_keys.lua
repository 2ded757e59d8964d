-- Replace the key store in one step, if nobody wrote since the writer read it.
-- KEYS[1]: the store's hash. ARGV[1]: the version the writer read ('' = none),
-- ARGV[2]: the new manifest, ARGV[3]: how many kids to drop, then those kids,
-- then (field, envelope) pairs of the keys to add.
-- Readers see the old or the new manifest with its keys, never a mix; the
-- version tells them (and the next writer) that something changed.
local current = redis.call('HGET', KEYS[1], 'version') or ''
if current ~= ARGV[1] then return false end
local dropped = tonumber(ARGV[3])
for i = 4, 3 + dropped do redis.call('HDEL', KEYS[1], 'key:' .. ARGV[i]) end
for i = 4 + dropped, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[1], 'manifest', ARGV[2])
return redis.call('HINCRBY', KEYS[1], 'version', 1)
