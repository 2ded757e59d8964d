-- Redeem an authorization code in one step. KEYS: the code's key.
-- ARGV: the authenticated client's id. Only the client the code was issued
-- to consumes it; anyone else leaves it in place for the rightful client.
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
if cjson.decode(raw)['client_id'] ~= ARGV[1] then return false end
redis.call('DEL', KEYS[1])
return raw
