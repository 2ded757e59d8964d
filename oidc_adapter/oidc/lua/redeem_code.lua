-- Redeem an authorization code in one step. KEYS: the code's key, its
-- redemption marker. ARGV: the authenticated client's id, the marker's TTL.
-- Only the client the code was issued to consumes it; anyone else leaves it
-- in place for the rightful client. The marker is set in the same step, so a
-- concurrent second use always finds it and can revoke (RFC 9700 §4.5).
-- Returns {1, code} when redeemed, {0, marker} when the code was redeemed
-- before (a replay), false otherwise: one round trip either way.
local raw = redis.call('GET', KEYS[1])
if not raw then
  local marker = redis.call('GET', KEYS[2])
  if marker then return {0, marker} end
  return false
end
local code = cjson.decode(raw)
if code['client_id'] ~= ARGV[1] then return false end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], cjson.encode({room = code['room'], ticket = code['ticket']}),
           'EX', ARGV[2])
return {1, raw}
