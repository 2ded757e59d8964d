-- Shared part of every room script: it is prepended to each script file at
-- load time, so every call first brings the room up to "now" (abandonment,
-- unclaimed turns, ended sessions, token bucket, admissions) atomically.
--
-- Per-ticket data is indexed by the ticket's queue number n and packed in
-- bitfields (taken time u32, last change u32, state u8) plus one bit in the
-- `live` bitmap for "waiting and not abandoned", so a waiting ticket costs
-- a few bytes besides its id -> n hash entry. All bits at or below the
-- cursor are 0, which lets BITPOS find the next live ticket and BITCOUNT
-- count the people ahead without any sorted set.
-- The generated header (scripts.py) defines the state numbers (WAITING ...
-- REVOKED, STATE_NAMES), GRANULE, RATE_BUCKET, RATE_KEEP, the poll constants
-- (POLLS_PER_WINDOW, POLL_MIN, POLL_MAX, OVERDUE_POLLS) and the keys
-- K_CONFIG ... K_RATE from the Python tables, so the two cannot disagree.
--
-- Two clocks. now_ms / now_s is the caller's (Redis TIME, or the clock the
-- tests inject): the admission rate, sessions, `taken_at` and the rate history
-- run on it. room_s is the room's own clock, which skips silences (see
-- load_state): heartbeats, grace and claim deadlines and `changed_at` run on
-- it, so time in which clients could not reach us never counts against them.
local ID_MARK = 'v'         -- first character of a self-verifying ticket id
local ID_KEY_FIELD = 'id_key'  -- the room's id key, in the state hash
local CHUNK = 256        -- log/claim entries read per LRANGE
local WORK_LIMIT = 2000  -- bound on entries swept / tickets served per call
-- The room's counters (COUNTERS, from library.py): seq = last queue number
-- given out; cursor = last number served; tokens / tokens_at_ms = the
-- admission bucket and when it was last filled, which is also when the room
-- was last touched;
-- heartbeat_granule = newest granule opened in the heartbeat log (room
-- clock); rate_bucket = newest admission-rate bucket; lost_ms = silence the
-- room clock skipped so far (room clock = now_ms - lost_ms); session_mean_s =
-- how long sessions really last, over about the last SESSION_MEAN_OVER.
-- A timed sale (see schedule below): opened_s = when the room opened (0 =
-- not yet); prequeue_size = P, the tickets 1..P served in shuffled order;
-- shuffle_cursor = the last place of that order served; block_live = how
-- many of 1..P still wait. The seed and its commitment are text fields of
-- the same hash, read only by scheduled rooms. sessions = how many admitted
-- sessions the sessions zset holds (kept with every ZADD and ZREM, so no call
-- needs a ZCARD). log_head_granule, claims_head_s and sessions_next_ms say
-- when the heartbeat log, the claim list and the sessions next have work
-- (see sweep_abandoned).
--
-- The counters are stored packed, as doubles in COUNTERS order, in one field
-- of the state hash: one value to read and write per call instead of
-- nineteen to parse and format. A room stored field by field (before this
-- format) is read that way and packed by its next save.
local STATE_PACKED = 'c'
-- The merged settings the scripts use, cached in the config hash itself:
-- SETTINGS (library.py) as doubles, then the mode. Rewriting the config
-- (sync_settings deletes the hash first) drops the cache with it; configure
-- drops it when an override changes.
local SETTINGS_CACHE = '_lua'
-- A counter whose value must be looked up again (see sweep_abandoned).
local UNKNOWN = -1

-- struct formats of n doubles or big-endian u32s. (A function library's top
-- level may not use the string library: formats are made at first use and kept.)
local formats = {}
local function format_of(code, n)
  local key = code .. n
  if not formats[key] then formats[key] = string.rep(code, n) end
  return formats[key]
end
local function doubles(n) return format_of('<d', n) end
local function u32s(n) return format_of('>I4', n) end

-- The last settings read, by their cached string: a call reads the same
-- string (Lua compares interned strings at once) and gets the same table.
-- Nothing changes a settings table once made.
local last_settings = {}

local function settings()
  local cached = redis.call('HGET', K_CONFIG, SETTINGS_CACHE)
  if cached then
    if last_settings.from ~= cached then
      local s = settings_from({struct.unpack(doubles(#SETTINGS), cached)})
      s.mode = string.sub(cached, 8 * #SETTINGS + 1)
      last_settings = {from = cached, s = s}
    end
    return last_settings.s
  end
  local raw = redis.call('HGETALL', K_CONFIG)
  if #raw == 0 then return nil end
  local merged = {}
  for i = 1, #raw, 2 do merged[raw[i]] = raw[i + 1] end
  local o = redis.call('HGETALL', K_OVERRIDES)
  for i = 1, #o, 2 do merged[o[i]] = o[i + 1] end
  for _, k in ipairs(SETTINGS) do merged[k] = tonumber(merged[k]) or 0 end
  local s = settings_from(settings_values(merged))
  s.mode = merged.mode or 'auto'
  redis.call('HSET', K_CONFIG, SETTINGS_CACHE,
             struct.pack(doubles(#SETTINGS), unpack(settings_values(s))) .. s.mode)
  return s
end

-- How often a client should poll (the `heartbeat_seconds` hint): a quarter of
-- the shorter window, so whoever follows it learns of a turn with three polls
-- of the claim window left, and may lose a beat without losing the place.
local function poll_seconds(s)
  local window = math.min(s.waiting_grace_seconds, s.claim_seconds)
  return math.max(POLL_MIN, math.min(POLL_MAX, math.floor(window / POLLS_PER_WINDOW)))
end

local function active(st)
  return st.pending + st.sessions
end

local function capacity(st, s)
  if s.max_active == 0 or s.mode == 'passthrough' then return WORK_LIMIT end
  return math.max(0, s.max_active - active(st))
end

-- The room clock skips the part of every silence beyond one poll period.
-- Everyone who follows the hint calls at least that often, so a longer
-- silence means nobody could reach the room (Redis or the app was down) or
-- nobody who holds a ticket is still there; either way no deadline should run
-- through it. An honest idle room only pauses the deadlines of tickets nobody
-- polls for: they run on as soon as anyone calls, so abandoned tickets are
-- still swept and unclaimed slots still freed once the room is in use.
local function load_state(now_ms, s)
  local v = redis.call('HMGET', K_STATE, STATE_PACKED, ID_KEY_FIELD)
  local loaded
  if v[1] then
    -- Counters added to COUNTERS since the room was packed start UNKNOWN.
    local count = #v[1] / 8
    loaded = {struct.unpack(doubles(count), v[1])}
    for i = count + 1, #COUNTERS do loaded[i] = UNKNOWN end
  else
    -- A new room, or one stored field by field before the packed format.
    loaded = redis.call('HMGET', K_STATE, unpack(COUNTERS))
    for i = 1, #COUNTERS do loaded[i] = tonumber(loaded[i]) or 0 end
    loaded[COUNTER_INDEX.sessions] = redis.call('ZCARD', K_SESSIONS)
    for _, f in ipairs({'log_head_granule', 'claims_head_s', 'sessions_next_ms'}) do
      loaded[COUNTER_INDEX[f]] = UNKNOWN
    end
  end
  local st = counters_from(loaded)
  st.packed, st.id_key = v[1], v[2] or nil
  -- The counters as loaded (in COUNTERS order), for what compares before and after.
  st.loaded = loaded
  -- Time never runs backwards for a room, whatever clock the caller has.
  st.now_ms = math.max(now_ms, st.tokens_at_ms)
  st.now_s = math.floor(st.now_ms / 1000)
  local silence = st.now_ms - st.tokens_at_ms - poll_seconds(s) * 1000
  if st.tokens_at_ms > 0 and silence > 0 then st.lost_ms = st.lost_ms + silence end
  st.room_s = math.floor((st.now_ms - st.lost_ms) / 1000)
  -- Full since the last call: tokens earned meanwhile had nobody to serve.
  st.blocked = capacity(st, s) == 0
  return st
end

-- The BITFIELD offset of ticket n ('#n'), kept for the last n: a call names
-- the same ticket in several per-ticket records, and turning a number into a
-- string is a sprintf in Lua 5.1.
local offset_n, offset
local function offset_of(n)
  if n ~= offset_n then offset_n, offset = n, '#' .. n end
  return offset
end

local function get_u32(key, n) return redis.call('BITFIELD', key, 'GET', 'u32', offset_of(n))[1] end
-- BITFIELD SET answers the value it replaced: set_u32 returns it.
local function set_u32(key, n, v)
  return redis.call('BITFIELD', key, 'SET', 'u32', offset_of(n), v)[1]
end

-- The operators' charts (room/series.py): per SERIES_BUCKET seconds, the
-- counters as the bucket's last call left them: seq, served, admitted,
-- abandoned and expired are cumulative (Python takes differences for rates),
-- waiting and active are gauges. The loaded tokens_at_ms is when the room was
-- last touched, and the loaded counters are what that call left: so the
-- first call in a new bucket writes the last one's final values, once, and
-- no call writes the bucket it is in (the reader takes it from the room's
-- state). After a silence the bucket before this one gets the same values,
-- the baseline of this bucket's rates. Opening a bucket also drops the
-- buckets that fell out of the kept hour (each once: amortised O(1)).
local function series_entry(c)
  return table.concat({c.seq, c.served, c.admitted, c.abandoned, c.expired, c.waiting,
                       active(c)}, ' ')
end

local function was(st, f) return st.loaded[COUNTER_INDEX[f]] end

local function record_series(st)
  local span = SERIES_BUCKET * 1000
  local b = math.floor(st.now_ms / span)
  local last = math.floor(was(st, 'tokens_at_ms') / span)
  if b == last then return end
  local entry = series_entry(counters_from(st.loaded))
  if b - last >= SERIES_KEEP then
    redis.call('DEL', K_SERIES)
  else
    local old = {}
    for i = math.max(0, last - SERIES_KEEP + 1), b - SERIES_KEEP do old[#old + 1] = i end
    if #old > 0 then redis.call('HDEL', K_SERIES, unpack(old)) end
    redis.call('HSET', K_SERIES, last, entry)
  end
  if b - 1 > last then redis.call('HSET', K_SERIES, b - 1, entry) end
end

-- The real wait of the last ticket a call served ("now_s:seconds", newest
-- first), for the first WAITS_PER_BUCKET calls that serve anyone in each
-- series bucket, so the samples span the kept hour at any rate (WAITS_KEEP).
-- A call that served costs one LINDEX, and a sample a BITFIELD read and a
-- capped LPUSH.
local function record_wait(st)
  if st.cursor <= was(st, 'cursor') then return end
  local kth = redis.call('LINDEX', K_WAITS, WAITS_PER_BUCKET - 1)
  local opened = math.floor(st.now_s / SERIES_BUCKET) * SERIES_BUCKET
  if kth and tonumber(string.match(kth, '^%d+')) >= opened then return end
  local taken = get_u32(K_TAKEN_AT, st.cursor)
  redis.call('LPUSH', K_WAITS, string.format('%d:%d', st.now_s, st.now_s - taken))
  redis.call('LTRIM', K_WAITS, 0, WAITS_KEEP - 1)
end

local function save_state(st)
  local packed = struct.pack(doubles(#COUNTERS), unpack(counters_values(st)))
  if packed ~= st.packed then
    redis.call('HSET', K_STATE, STATE_PACKED, packed)
    -- Packing a room stored field by field: its old fields go.
    if not st.packed then redis.call('HDEL', K_STATE, unpack(COUNTERS)) end
  end
  record_series(st)
  record_wait(st)
end

-- The state, last change and taken-at time of the ticket this call touched
-- last: a call reads each once, not again at each step. begin() forgets them
-- (a function library's upvalues outlive the call); every write goes through
-- set_state / set_changed / set_taken.
local known_state_n, known_state, known_changed_n, known_changed, known_taken_n, known_taken

local function get_state(n)
  if known_state_n ~= n then
    known_state_n = n
    known_state = redis.call('BITFIELD', K_TICKET_STATES, 'GET', 'u8', offset_of(n))[1]
  end
  return known_state
end
local function set_state(n, v)
  redis.call('BITFIELD', K_TICKET_STATES, 'SET', 'u8', offset_of(n), v)
  known_state_n, known_state = n, v
end
local function get_changed(n)
  if known_changed_n ~= n then known_changed_n, known_changed = n, get_u32(K_CHANGED_AT, n) end
  return known_changed
end
local function set_changed(n, v)
  known_changed_n, known_changed = n, v
  return set_u32(K_CHANGED_AT, n, v)
end
local function get_taken(n)
  if known_taken_n ~= n then known_taken_n, known_taken = n, get_u32(K_TAKEN_AT, n) end
  return known_taken
end
local function set_taken(n, v)
  known_taken_n, known_taken = n, v
  set_u32(K_TAKEN_AT, n, v)
end

-- The heartbeat log holds ticket numbers in the order their heartbeat moved
-- into a new granule, with a negative marker opening each granule. Once a
-- granule is older than the grace period, every ticket whose latest entry
-- is in it and that has not beaten since is abandoned.
local function log_push(st, n)
  local g = math.floor(st.room_s / GRANULE)
  if g > st.heartbeat_granule then
    redis.call('RPUSH', K_HEARTBEAT_LOG, -g)
    st.heartbeat_granule = g
  end
  redis.call('RPUSH', K_HEARTBEAT_LOG, n)
  if st.log_head_granule == 0 then st.log_head_granule = g end
end

-- The live_blocks key keeps how many live bits each block of LIVE_BLOCK
-- numbers holds (every SETBIT of `live` moves its block's count), so a count
-- across many blocks reads their totals and BITCOUNTs only the two ends: at
-- most one or two partial blocks, not up to the whole line. (Smaller blocks
-- make the ends cheaper and the totals to add more numerous.) begin() builds
-- the counts of a room that has none yet (new, reset, or from before them:
-- live_blocks_built), so every call finds them.

local function live_moved(n, by)
  redis.call('BITFIELD', K_LIVE_BLOCKS, 'INCRBY', 'u32', '#' .. math.floor(n / LIVE_BLOCK), by)
end

local function leave_queue(st, n, state)
  if n <= st.prequeue_size then st.block_live = st.block_live - 1 end
  redis.call('SETBIT', K_LIVE, n, '0')
  live_moved(n, -1)
  set_state(n, state)
  set_changed(n, st.room_s)
  st.waiting = st.waiting - 1
end

local function abandon(st, n)
  leave_queue(st, n, ABANDONED)
  st.abandoned = st.abandoned + 1
end

-- A beat arriving after the grace period is too late: the ticket was
-- abandoned whether or not another call has swept the room since.
local function heartbeat(st, s, n)
  local last = set_changed(n, st.room_s)  -- one call reads and writes
  if last + s.waiting_grace_seconds <= st.room_s then
    abandon(st, n)
    return
  end
  if math.floor(st.room_s / GRANULE) > math.floor(last / GRANULE) then log_push(st, n) end
end

-- Consume a time-ordered list from its head: `visit(item)` handles one entry
-- and returns true when the entry (and all after it) must wait for later.
-- Returns why it stopped: 'wait' (an entry not due), 'empty' or 'more' (the
-- work limit; due entries remain).
local function drain(key, visit)
  local head = redis.call('LINDEX', key, 0)
  if not head then return 'empty' end
  if visit(tonumber(head)) then return 'wait' end
  redis.call('LPOP', key)
  local done = 1
  while done < WORK_LIMIT do
    local chunk = redis.call('LRANGE', key, 0, CHUNK - 1)
    if #chunk == 0 then return 'empty' end
    local used = 0
    for _, item in ipairs(chunk) do
      if visit(tonumber(item)) then
        if used > 0 then redis.call('LTRIM', key, used, -1) end
        return 'wait'
      end
      used = used + 1
    end
    redis.call('LTRIM', key, used, -1)
    done = done + used
    if used < CHUNK then return 'empty' end
  end
  return 'more'
end

-- Nearly every call finds nothing due. The counters remember when the head of
-- each list falls due (log_head_granule, claims_head_s, sessions_next_ms:
-- 0 = the list is empty, UNKNOWN = look), so such a call reads none of them.

local function sweep_abandoned(st, s)
  local grace = s.waiting_grace_seconds
  local head = st.log_head_granule
  if head == 0 or (head > 0 and (1 + head) * GRANULE + grace > st.room_s) then return end
  local stop = drain(K_HEARTBEAT_LOG, function(v)
    if v < 0 then
      head = -v
      return (1 + head) * GRANULE + grace > st.room_s
    end
    if get_state(v) == WAITING and get_changed(v) + grace <= st.room_s then
      abandon(st, v)
    end
    return false
  end)
  st.log_head_granule = (stop == 'wait' and head) or (stop == 'empty' and 0) or UNKNOWN
end

-- Served tickets sit in the claim list in the order they were served, so
-- the first one still inside its claim window ends the scan. (Its serve time
-- is remembered: if it is claimed meanwhile, it is dropped when that falls due.)
local function expire_claims(st, s)
  local head = st.claims_head_s
  if head == 0 or (head > 0 and head + s.claim_seconds > st.room_s) then return end
  local stop = drain(K_CLAIMS, function(n)
    if get_state(n) ~= SERVED then return false end
    head = get_changed(n)
    if head + s.claim_seconds > st.room_s then return true end
    set_state(n, EXPIRED)
    set_changed(n, st.room_s)
    st.pending = st.pending - 1
    st.expired = st.expired + 1
    return false
  end)
  st.claims_head_s = (stop == 'wait' and head) or (stop == 'empty' and 0) or UNKNOWN
end

-- Early logouts free slots sooner than session_seconds says; estimates
-- need to know by how much. (The first sessions to end are the short ones:
-- starting from them errs on the side of slots freeing soon.)
local function session_ended(st, seconds)
  if st.session_mean_s == 0 then st.session_mean_s = seconds end
  st.session_mean_s = st.session_mean_s + (seconds - st.session_mean_s) / SESSION_MEAN_OVER
end

local function expire_sessions(st, s)
  local next_ms = st.sessions_next_ms
  if next_ms == 0 or next_ms > st.now_ms then return end
  local ended = redis.call('ZRANGEBYSCORE', K_SESSIONS, '-inf', st.now_ms, 'LIMIT', 0, WORK_LIMIT)
  for _, item in ipairs(ended) do
    set_state(tonumber(item), EXPIRED)
    set_changed(tonumber(item), st.room_s)
    session_ended(st, s.session_seconds)
  end
  if #ended > 0 then
    st.expired = st.expired + #ended
    st.sessions = st.sessions - redis.call('ZREM', K_SESSIONS, unpack(ended))
  end
  local first = redis.call('ZRANGE', K_SESSIONS, 0, 0, 'WITHSCORES')
  st.sessions_next_ms = tonumber(first[2]) or 0
end

-- A session booked to end at `ends_ms` started: the earliest end may be sooner.
-- (A session ended early leaves the old value: when it falls due, the next
-- call looks and finds the real one.)
local function session_booked(st, ends_ms)
  if st.sessions_next_ms == 0 or (st.sessions_next_ms > 0 and ends_ms < st.sessions_next_ms) then
    st.sessions_next_ms = ends_ms
  end
end

-- Admissions per RATE_BUCKET seconds, for the estimates: a ring of RATE_KEEP
-- slots in one string, slot b % RATE_KEEP holding bucket b and its count as
-- 8 + 8 hex digits, so a reply carries the history as one short string
-- (results.rate_buckets reads it) instead of a hash of up to 2 * RATE_KEEP
-- items for Redis to build and the client to parse. A slot keeps the newest
-- bucket written there; rate_bucket, the newest of all, tells whether this
-- bucket's slot is already this bucket's.
local RATE_SLOT = 16

local function set_rate(b, count)
  redis.call('SETRANGE', K_RATE, RATE_SLOT * (b % RATE_KEEP), string.format('%08x%08x', b, count))
end

local function record_rate(st, count)
  local b = math.floor(st.now_s / RATE_BUCKET)
  if b == st.rate_bucket then
    local at = RATE_SLOT * (b % RATE_KEEP)
    count = count + (tonumber(redis.call('GETRANGE', K_RATE, at + 8, at + 15), 16) or 0)
  end
  set_rate(b, count)
  st.rate_bucket = b
end

-- Timed sales. The pre-queue's order is a permutation of [1..P] keyed by a
-- seed: a Feistel network over the smallest power of two >= P (at least
-- 2^SHUFFLE_MIN_BITS) with cycle-walking, so the ticket at a place (and
-- back) costs a few dozen sha1hex calls, never a pass over the line.
-- room/shuffle.py is the same code in Python, for audits (and the reasons
-- for the constants); change neither without the other.
local SHUFFLE_ROUNDS = 12   -- shuffle.ROUNDS (even: the halves end at their sizes)
local SHUFFLE_MIN_BITS = 4  -- shuffle.MIN_BITS
-- A pre-queue place costs about as much work as this many plain ones (its
-- sha1hex calls), so one call serves at most WORK_LIMIT / SHUFFLE_COST of them.
local SHUFFLE_COST = 8

local function shuffle_bits(size)
  local bits = SHUFFLE_MIN_BITS
  while 2 ^ bits < size do bits = bits + 1 end
  return bits
end

local function shuffle_round(seed, i, x, bits)
  return tonumber(string.sub(redis.sha1hex(seed .. ':' .. i .. ':' .. x), 1, 8), 16) % 2 ^ bits
end

-- The left half has `a` bits, the right `b`; they swap sizes every round.
local function feistel(seed, bits, x, forward)
  local a = math.floor(bits / 2)
  local b = bits - a
  local l, r = math.floor(x / 2 ^ b), x % 2 ^ b
  for k = 1, SHUFFLE_ROUNDS do
    if forward then
      l, r = r, bit.bxor(l, shuffle_round(seed, k, r, a))
      a, b = b, a
    else
      a, b = b, a
      l, r = bit.bxor(r, shuffle_round(seed, SHUFFLE_ROUNDS + 1 - k, l, a)), l
    end
  end
  return l * 2 ^ b + r
end

-- Forward: the number at place x; backward: the place of number x.
local function shuffled(st, x, forward)
  st.seed = st.seed or redis.call('HGET', K_STATE, 'seed')
  local size = st.prequeue_size
  local bits = shuffle_bits(size)
  x = feistel(st.seed, bits, x - 1, forward)
  while x >= size do x = feistel(st.seed, bits, x, forward) end
  return x + 1
end

-- The seed is fixed (and its commitment published) once the pre-queue
-- window starts, before any ticket of it exists; the caller brings a fresh
-- one on every call, only the first is kept.
local function commit_seed(st, s, seed, digest)
  if s.opens_at == 0 or st.opened_s > 0 or not seed or seed == '' then return end
  if st.now_s < s.opens_at - s.prequeue_seconds then return end
  if redis.call('HSETNX', K_STATE, 'seed', seed) == 1 then
    redis.call('HSET', K_STATE, 'commitment', digest)
  end
end

-- At the first call from opens_at on, everyone waiting (tickets 1..seq) is
-- the pre-queue. Without a committed seed there is no fair shuffle to show,
-- so the line stays in arrival order.
local function open_if_due(st, s)
  if s.opens_at == 0 or st.opened_s > 0 or st.now_s < s.opens_at then return end
  st.opened_s = st.now_s
  if redis.call('HEXISTS', K_STATE, 'seed') == 1 then
    st.prequeue_size = st.seq
    st.block_live = st.waiting
  end
end

local function held_for_opening(st, s)
  return s.opens_at > 0 and st.opened_s == 0
end

local function phase(st, s)
  if s.closes_at > 0 and st.now_s >= s.closes_at then return 'closed' end
  if not held_for_opening(st, s) then return 'open' end
  if st.now_s < s.opens_at - s.prequeue_seconds then return 'before' end
  return 'prequeue'
end

-- Why a new ticket is refused now (nil: it is not): a closed room, or a
-- timed sale before its pre-queue or after its end.
local function refusal(st, s)
  local p = phase(st, s)
  if s.mode == 'closed' or p == 'closed' or p == 'before' then return 'room_closed' end
  return nil
end

-- The next ticket in line: the pre-queue place by place while it lasts,
-- then the live bitmap from the cursor. Returns the number (0: a place
-- whose ticket left) and whether it came from the pre-queue; nil at the end.
local function next_in_line(st)
  if st.shuffle_cursor < st.prequeue_size then
    st.shuffle_cursor = st.shuffle_cursor + 1
    local n = shuffled(st, st.shuffle_cursor, true)
    -- 1..P are all served or gone once the last place is reached.
    if st.shuffle_cursor == st.prequeue_size then st.cursor = math.max(st.cursor, st.prequeue_size) end
    if redis.call('GETBIT', K_LIVE, n) == 0 then return 0, true end
    return n, true
  end
  local n = redis.call('BITPOS', K_LIVE, 1, math.floor((st.cursor + 1) / 8))
  if n < 0 then return nil end
  return n, false
end

-- Serve up to `want` waiting tickets in queue-number order, never past the
-- active-session cap. A ticket whose holder missed OVERDUE_POLLS polls in a
-- row is abandoned instead: served, it would hold a slot for the whole claim
-- window with nobody there to claim it. Returns how many were served.
local function serve(st, s, want)
  local limit = math.min(want, capacity(st, s), WORK_LIMIT)
  local overdue = st.room_s - OVERDUE_POLLS * poll_seconds(s)
  local count, looked = 0, 0
  if held_for_opening(st, s) then limit = 0 end
  while count < limit and st.waiting > 0 and looked < WORK_LIMIT do
    local n, shuffled_place = next_in_line(st)
    if not n then break end
    looked = looked + (shuffled_place and SHUFFLE_COST or 1)
    if n == 0 then
      -- a pre-queue place whose ticket left: nothing to serve there
    elseif get_changed(n) <= overdue then
      abandon(st, n)
    else
      leave_queue(st, n, SERVED)
      redis.call('RPUSH', K_CLAIMS, n)
      if st.claims_head_s == 0 then st.claims_head_s = st.room_s end
      if not shuffled_place then st.cursor = n end
      st.pending = st.pending + 1
      st.served = st.served + 1
      count = count + 1
    end
  end
  if count > 0 then record_rate(st, count) end
  return count
end

local function bucket_size(s)
  if s.admit_per_minute == 0 then return 0 end  -- operator admissions only: bank nothing
  if s.mode == 'queue_all' then return 1 end
  return math.max(1, s.admit_per_minute / 6)
end

-- The bucket fills at the rate for all the time since the last call. While
-- people wait and a slot is free, every token earned is theirs however rarely
-- anyone calls: the schedule sets the pace, not the request rate. Only time in
-- which nobody could be served (an empty line, a full room) banks at most one
-- bucket, so "no burst" means no admission ahead of the schedule.
local function refill(st, s)
  st.tokens = st.tokens + (st.now_ms - st.tokens_at_ms) * s.admit_per_minute / 60000
  st.tokens_at_ms = st.now_ms
  if st.blocked then st.tokens = math.min(st.tokens, bucket_size(s)) end
end

-- Serve what the bucket holds; what nobody could use is banked up to one bucket.
-- (Tenths added ten times make 0.999...: a token is whole a hair early.)
local function admit_due(st, s)
  st.tokens = st.tokens - serve(st, s, math.floor(st.tokens + 1e-9))
  if st.waiting == 0 or capacity(st, s) == 0 then
    st.tokens = math.min(st.tokens, bucket_size(s))
  end
end

local function by_rate(s) return s.mode == 'auto' or s.mode == 'queue_all' end

-- Serve whoever is due now, as the room's mode says.
local function admit_now(st, s)
  if by_rate(s) then
    admit_due(st, s)
  elseif s.mode == 'passthrough' then
    serve(st, s, WORK_LIMIT)
  end
end

local function advance(st, s)
  sweep_abandoned(st, s)
  expire_claims(st, s)
  expire_sessions(st, s)
  open_if_due(st, s)
  if by_rate(s) and not held_for_opening(st, s) then
    refill(st, s)
  else
    st.tokens_at_ms = st.now_ms  -- paused and closed rooms bank nothing for later
  end
  admit_now(st, s)
end

-- Bits set in byte `at` of the live bitmap at offsets lo .. hi of that byte.
local function live_in_byte(at, lo, hi)
  local byte = redis.call('GETRANGE', K_LIVE, at, at)
  local count = 0
  if #byte == 1 then
    local b = string.byte(byte)
    for i = lo, hi do
      if bit.band(b, bit.rshift(128, i)) ~= 0 then count = count + 1 end
    end
  end
  return count
end

-- Live bits strictly between `from` and n, by BITCOUNT: of that bit range
-- (Redis 7), or of its bytes less the bits outside it (Redis 6). Bits at or
-- below `from` count only when `mixed` says some may be set (all below the
-- cursor are 0).
local function live_counted(from, n, mixed)
  if n <= from + 1 then return 0 end
  if BIT_RANGES then return redis.call('BITCOUNT', K_LIVE, from + 1, n - 1, 'BIT') end
  local last = math.floor((n - 1) / 8)
  local first = math.floor((from + 1) / 8)
  local count = redis.call('BITCOUNT', K_LIVE, first, last)
  if mixed and from >= first * 8 then
    count = count - live_in_byte(first, 0, from - first * 8)
  end
  return count - live_in_byte(last, n - last * 8, 7)
end

local function build_live_blocks(st)
  if st.live_blocks_built == 1 then return end
  redis.call('DEL', K_LIVE_BLOCKS)
  for b = 0, math.floor(st.seq / LIVE_BLOCK) do
    local bytes = LIVE_BLOCK / 8
    local count = redis.call('BITCOUNT', K_LIVE, b * bytes, (b + 1) * bytes - 1)
    if count > 0 then redis.call('BITFIELD', K_LIVE_BLOCKS, 'SET', 'u32', '#' .. b, count) end
  end
  st.live_blocks_built = 1
end

local function live_between(st, from, n, mixed)
  local lo = math.floor((from + 1) / LIVE_BLOCK)
  local hi = math.floor((n - 1) / LIVE_BLOCK)
  if hi - lo < 2 then return live_counted(from, n, mixed) end
  -- An end block's total is exact when nothing outside the range is live in
  -- it: below `from` unless `mixed`, and past the last ticket given out.
  local first = mixed and lo + 1 or lo
  local last = n > st.seq and hi or hi - 1
  local count = 0
  if first > lo then count = live_counted(from, first * LIVE_BLOCK, mixed) end
  if last < hi then count = count + live_counted(hi * LIVE_BLOCK - 1, n) end
  -- The totals of blocks first .. last in one read: BITFIELD's u32 #b are the
  -- big-endian bytes 4b .. 4b + 3 (past the end of the string: zeros).
  local totals = redis.call('GETRANGE', K_LIVE_BLOCKS, 4 * first, 4 * (last + 1) - 1)
  local blocks = math.floor(#totals / 4)
  if blocks > 0 then
    local values = {struct.unpack(u32s(blocks), totals)}
    for i = 1, blocks do count = count + values[i] end
  end
  return count
end

-- People ahead of ticket n: live bits strictly between the cursor and n;
-- while the pre-queue is served, its tickets come first. Inside it the
-- places still to come are counted exactly and those of them whose ticket
-- left are taken as spread evenly over them (the shuffle puts them there
-- at random), so the count is exact while nobody leaves.
local function ahead_of(st, n)
  local size, done = st.prequeue_size, st.shuffle_cursor
  if done >= size then
    -- Count from the nearer end of the line: every live bit is past the
    -- cursor and n is one of the `waiting` live bits, so a newcomer at the
    -- back costs a byte or two, not a pass over everyone ahead.
    local behind = math.floor(st.seq / 8) - math.floor(n / 8)
    if behind < math.floor((n - 1) / 8) - math.floor((st.cursor + 1) / 8) then
      return st.waiting - 1 - live_between(st, n, st.seq + 1, true)
    end
    return live_between(st, st.cursor, n)
  end
  if n > size then return st.block_live + live_between(st, size, n, true) end
  local before = shuffled(st, n, false) - 1 - done
  local others = size - done - 1
  if before <= 0 or others <= 0 then return 0 end
  return math.floor((st.block_live - 1) * before / others + 0.5)
end

-- When a slot under max_active frees for the `place`-th person from now:
-- the end of one of the sessions held now (in the order they end, as booked),
-- after `rounds` more rounds of max_active sessions, whose length the reader
-- allows for. Returns that end and the rounds.
local function slot_of(st, s, place, sessions)
  local held = st.pending + sessions
  local k = place - (s.max_active - held)
  if k <= 0 then return st.now_ms, 0 end
  local rounds = 0
  if k > held then
    rounds = math.ceil((k - held) / s.max_active)
    k = k - rounds * s.max_active
  end
  local at = st.now_ms  -- a slot free now goes to someone admitted now
  if k > sessions then
    at = st.now_ms + s.session_seconds * 1000  -- served, not claimed yet
  elseif k > 0 then
    at = tonumber(redis.call('ZRANGE', K_SESSIONS, k - 1, k - 1, 'WITHSCORES')[2])
  end
  return at, rounds
end

-- Slots for the `place`-th person, for the one halfway there and for the
-- last place the sessions held now will free (max_active), so a reader can
-- tell when any place up to `place` gets in (fewer people come first if some
-- ahead leave): {place, end ms, rounds, ...}; nil when no cap applies.
local function slots(st, s, place)
  if s.max_active == 0 or not by_rate(s) then return nil end
  local sessions = st.sessions
  local half = math.ceil(place / 2)
  local places = {half}
  if half < s.max_active and s.max_active < place then places[2] = s.max_active end
  if place > half then places[#places + 1] = place end
  local out = {}
  for _, p in ipairs(places) do
    local at, rounds = slot_of(st, s, p, sessions)
    for _, v in ipairs({p, at, rounds}) do out[#out + 1] = v end
  end
  return out
end

-- The room's state, into `out` (a new reply if none; see results.REPLY for
-- the positions). `place` picks whose slots are reported: a waiting
-- ticket's place, a newcomer's (nil) or nobody's (false).
local function summary(st, s, place, out)
  out = out or new_reply()
  out[R.mode], out[R.seq], out[R.cursor], out[R.waiting] = s.mode, st.seq, st.cursor, st.waiting
  out[R.pending], out[R.active], out[R.served] = st.pending, active(st), st.served
  out[R.admitted], out[R.abandoned], out[R.expired] = st.admitted, st.abandoned, st.expired
  -- Whole numbers reach the reply as integers (exact below 2^53): no formatting.
  out[R.now_ms], out[R.rate] = st.now_ms, redis.call('GET', K_RATE)
  out[R.poll_s], out[R.session_mean_s] = poll_seconds(s), string.format('%.1f', st.session_mean_s)
  out[R.admit_per_minute], out[R.max_active] = s.admit_per_minute, s.max_active
  out[R.session_seconds], out[R.waiting_grace_seconds] = s.session_seconds, s.waiting_grace_seconds
  out[R.claim_seconds] = s.claim_seconds
  if s.opens_at > 0 or s.closes_at > 0 or st.prequeue_size > 0 then
    local saved = redis.call('HMGET', K_STATE, 'seed', 'commitment')
    local sale = {'phase', phase(st, s), 'opens_at', s.opens_at,
                  'prequeue_opens_at', math.max(0, s.opens_at - s.prequeue_seconds),
                  'closes_at', s.closes_at, 'opened_s', st.opened_s,
                  'prequeue_size', st.prequeue_size, 'shuffle_cursor', st.shuffle_cursor,
                  'commitment', saved[2] or ''}
    if st.opened_s > 0 and saved[1] then
      sale[#sale + 1] = 'seed'
      sale[#sale + 1] = saved[1]
    end
    out[R.schedule] = sale
  end
  if place == nil then place = st.waiting + 1 end
  out[R.slots] = place and slots(st, s, place) or false
  return out
end

local function describe(st, s, id, n)
  local state = get_state(n)
  local ahead = state == WAITING and ahead_of(st, n)
  local out = summary(st, s, ahead and ahead + 1)
  out[R.ticket], out[R.number], out[R.state] = id, n, STATE_NAMES[state] or 'unknown'
  out[R.taken_s] = get_taken(n)
  -- changed_s on the caller's clock, so claim_by = changed_s + claim_seconds
  -- moves with every silence the room clock skipped.
  out[R.changed_s] = get_changed(n) + st.now_s - st.room_s
  out[R.ahead] = ahead
  if state == ADMITTED then out[R.session_expires_ms] = redis.call('ZSCORE', K_SESSIONS, n) end
  return out
end

-- A ticket id carries its queue number and proves it: ID_MARK, the number in
-- 8 hex digits and 13 hex digits of a keyed hash of that number and the
-- second its ticket was taken, under the room's id key (22 characters, the
-- form ids always had), so no id -> number record is stored. The key is
-- random, made by the first take after the room is created or reset, so a
-- reset voids every id given out before it; the taken-at second voids an id
-- whose number a failover lost and gave out again. The keyed hash nests
-- SHA-1 (sha1(k .. sha1(k .. m))), which Redis' Lua offers, so no length
-- extension reaches it.
local function id_for(st, n, taken_s)
  local hex = string.format('%08x', n)
  local mac = redis.sha1hex(st.id_key .. redis.sha1hex(st.id_key .. hex .. ':' .. taken_s))
  return ID_MARK .. hex .. mac:sub(1, 13)
end

local function ticket_number(st, id)
  if #id == 22 and id:sub(1, 1) == ID_MARK and st.id_key then
    local n = tonumber(id:sub(2, 9), 16)
    local taken = n and n >= 1 and n <= st.seq and get_taken(n)
    if taken and id_for(st, n, taken) == id then return n end
  end
  -- Ids given out before they carried their number are still looked up.
  return tonumber(redis.call('HGET', K_IDS, id))
end

-- Every script starts the same way; `room` is nil for an unconfigured room.
local function begin()
  local s = settings()
  if not s then return nil, nil end
  local now = tonumber(ARGV[1])
  if not now then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  known_state_n, known_changed_n, known_taken_n = nil, nil, nil
  local st = load_state(now, s)
  build_live_blocks(st)
  return s, st
end
