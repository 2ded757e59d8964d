-- Change live settings. ARGV: now_ms, seed, commitment (see commit_seed),
-- then field/value pairs ('' clears an override). The room is advanced under
-- the old settings first, so tokens earned at the old rate are kept and
-- nobody's place moves.
local s, st = begin()
if not s then return {'unknown_room'} end
advance(st, s)
for i = 4, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', K_OVERRIDES, ARGV[i])
  else
    redis.call('HSET', K_OVERRIDES, ARGV[i], ARGV[i + 1])
  end
end
redis.call('HDEL', K_CONFIG, SETTINGS_CACHE)
s = settings()
commit_seed(st, s, ARGV[2], ARGV[3])
st.tokens = math.min(st.tokens, bucket_size(s))
advance(st, s)
save_state(st)
return summary(st, s)
