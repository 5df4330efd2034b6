-- Sliding windows of units for distkit::RateLimiter; src/ratelimit/window.cpp
-- keeps the same window in memory. Time is Redis' clock (TIME), in ms.
--
-- A window is one hash: 'c' its shape (window:bucket:extra ms, refused when
-- another client's differs), 't' its running total, 'h' its newest bucket
-- (ms since the epoch / bucket ms), and a field per bucket holding units,
-- named by its slot in a ring of `slots` buckets. A call drops the buckets
-- that have left since the last one and keeps the total as it goes: its
-- work is O(buckets passed, or fields held if fewer), never a sum over the window,
-- but for a rejection's retry time (one HMGET of the ring). The hash
-- expires a window after its last units: an idle key leaves by itself.
--
-- ARGV[1]: operation, ARGV[2]: window ms, ARGV[3]: bucket ms, ARGV[4]: the
-- extra buckets kept beyond the window (hybrid leases, see lease).

local op = ARGV[1]
local window_ms, bucket_ms, extra = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local shape = ARGV[2] .. ':' .. ARGV[3] .. ':' .. ARGV[4]
local slots = window_ms / bucket_ms + extra
local now_us = (function()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end)()
local now = math.floor(now_us / 1000)

-- Opens the window in `hash`, dropping the buckets that have left it; nil
-- and an error if the hash holds a window of another shape, or is no hash.
local function open(hash)
  local v = redis.pcall('HMGET', hash, 'c', 't', 'h')
  if v.err then return nil, v.err end
  if v[1] and v[1] ~= shape then
    return nil, 'INVALID ' .. hash .. ' is limited with window:bucket:extra ' .. v[1] .. ' ms, this client uses ' .. shape
  end
  local w = {hash = hash, total = tonumber(v[2] or '0'), head = tonumber(v[3] or '-1'), dirty = false}
  local bucket = math.floor(now / bucket_ms)
  if bucket > w.head then  -- a clock gone back counts in the newest bucket
    if w.head < 0 or bucket - w.head >= slots then
      if w.head >= 0 then redis.call('DEL', hash) end
      w.total = 0
    else  -- each new bucket takes the slot of one that has left
      local fields = {}
      if bucket - w.head > redis.call('HLEN', hash) then
        -- Fewer fields than buckets passed (a quiet key): look at those held.
        local held = redis.call('HGETALL', hash)
        for i = 1, #held, 2 do
          local slot = tonumber(held[i])
          if slot and (w.head - slot) % slots + (bucket - w.head) >= slots then
            fields[#fields + 1] = slot  -- its bucket, head - (head - slot) % slots, has left
            w.total = w.total - tonumber(held[i + 1])
          end
        end
      else
        for b = w.head + 1, bucket do fields[#fields + 1] = b % slots end
        for _, units in ipairs(redis.call('HMGET', hash, unpack(fields))) do
          if units then w.total = w.total - tonumber(units) end
        end
      end
      if #fields > 0 then redis.call('HDEL', hash, unpack(fields)) end
    end
    w.head, w.dirty = bucket, true
  end
  return w
end

-- Adds `units` (negative: takes back) to bucket `b` of the window.
local function add(w, b, units)
  redis.call('HINCRBY', w.hash, b % slots, units)
  w.total, w.dirty = w.total + units, true
  if units > 0 then redis.call('PEXPIRE', w.hash, (slots + 1) * bucket_ms) end
end

-- Writes the window back; an empty one is no window at all (and would have
-- no expiry).
local function save(w)
  if not w.dirty then return end
  if w.total == 0 then
    redis.call('DEL', w.hash)
  else
    redis.call('HSET', w.hash, 'c', shape, 't', string.format('%d', w.total), 'h', w.head)
  end
end

-- How long until `n` fits under `limit`, oldest buckets leaving first, and
-- the room left then after n.
local function retry(w, n, limit)
  local fields = {}
  for b = w.head - slots + 1, w.head do fields[#fields + 1] = b % slots end
  local left = w.total
  for i, units in ipairs(redis.call('HMGET', w.hash, unpack(fields))) do
    left = left - tonumber(units or '0')
    if left + n <= limit then return {0, (w.head + i) * bucket_ms - now, limit - left - n} end
  end
  return redis.error_reply('INVALID ' .. n .. ' units exceed the limit ' .. limit)
end

-- KEYS[1]: the window. ARGV[5]: limit, ARGV[6]: n, ARGV[7]: '1' to count
-- (inc) or '0' (check). Returns {1} (admitted) or {0, retry ms, room after}.
if op == 'absolute' then
  local limit, n = tonumber(ARGV[5]), tonumber(ARGV[6])
  local w, err = open(KEYS[1])
  if not w then return redis.error_reply(err) end
  local admitted = w.total + n <= limit
  if admitted and ARGV[7] == '1' then add(w, w.head, n) end
  save(w)
  if admitted then return {1} end
  return retry(w, n, limit)
end

-- KEYS[1]: the window of units asked for, KEYS[2]: of units admitted.
-- ARGV[5]: limit, ARGV[6]: hard limit, ARGV[7]: n, ARGV[8]: '1' to count,
-- ARGV[9]: a draw, uniform in [0, 1), made by the client. Returns {admitted
-- (1 or 0), the suppression factor as text}.
if op == 'suppressed' then
  local limit, hard, n, count = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8] == '1'
  local asked, err = open(KEYS[1])
  if not asked then return redis.error_reply(err) end
  local admitted, err2 = open(KEYS[2])
  if not admitted then return redis.error_reply(err2) end
  if count then add(asked, asked.head, n) end
  local factor = 0
  if asked.total > limit then factor = 1 - limit / asked.total end
  local ok
  if admitted.total + n > hard then
    factor, ok = 1, false
  elseif count then
    ok = tonumber(ARGV[9]) >= factor
  else
    ok = factor < 1
  end
  if ok and count then add(admitted, admitted.head, n) end
  save(asked)
  save(admitted)
  return {ok and 1 or 0, string.format('%.17g', factor)}
end

-- Hybrid quota leases, one per key of KEYS (up to 100). Per key, from
-- ARGV[5] on, four: limit, units wanted, units to give back and the bucket
-- they were taken in. A lease taken in bucket j may be spent until the end
-- of bucket j + extra, so the window counts `extra` buckets more than the
-- limit's (slots = window buckets + extra): whatever window a lease is
-- spent in, the check that granted it saw every unit spent there. Returns
-- per key {units granted, their bucket, ms the lease lasts (rounded down,
-- less 1 ms for the clocks' rounding)}, or {-1, error} for a key that
-- cannot be limited (another shape, not a hash): the others go on.
if op == 'lease' then
  local out = {}
  for i, hash in ipairs(KEYS) do
    local at = 4 + (i - 1) * 4
    local limit, want, back, back_bucket = tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2]),
                                           tonumber(ARGV[at + 3]), tonumber(ARGV[at + 4])
    local w, err = open(hash)
    if not w then
      out[i] = {-1, err}
    else
      if back > 0 and back_bucket <= w.head and back_bucket > w.head - slots then
        local held = tonumber(redis.call('HGET', hash, back_bucket % slots) or '0')
        if held > 0 then add(w, back_bucket, -math.min(back, held)) end
      end
      local granted = math.max(0, math.min(want, limit - w.total))
      if granted > 0 then add(w, w.head, granted) end
      save(w)
      out[i] = {granted, w.head, math.floor(((w.head + extra + 1) * bucket_ms * 1000 - now_us) / 1000) - 1}
    end
  end
  return out
end

-- Hybrid suppressed: per key, two hashes in KEYS (asked, admitted) and two
-- units in ARGV from ARGV[5] on (asked and admitted since the last report).
-- Returns per key the windows' totals after them, or {-1, error}.
if op == 'report' then
  local out = {}
  for i = 1, #KEYS, 2 do
    local at = 4 + i - 1
    local asked, err = open(KEYS[i])
    local admitted, err2
    if asked then admitted, err2 = open(KEYS[i + 1]) end
    if not (asked and admitted) then
      out[#out + 1] = {-1, err or err2}
    else
      local windows = {asked, admitted}
      for j = 1, 2 do
        local units = tonumber(ARGV[at + j])
        if units > 0 then add(windows[j], windows[j].head, units) end
        save(windows[j])
      end
      out[#out + 1] = {string.format('%d', asked.total), string.format('%d', admitted.total)}
    end
  end
  return out
end

return redis.error_reply('unknown operation ' .. tostring(op))
