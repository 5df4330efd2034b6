-- StrictInstanceAwareCounter (and the backend of the lax one).
-- Every call: record the caller's heartbeat, reap dead instances, restore the
-- caller's reaped slices it still knows, then apply the operation.
--
-- KEYS[1] live    ZSET  instance id -> last heartbeat, server ms
-- KEYS[2] cum     HASH  key -> cumulative over live instances
-- KEYS[3] epochs  HASH  key -> epoch, bumped by set/del/clear (missing = 0)
-- KEYS[4] mine    HASH  the caller's slices: s:<key> -> slice, e:<key> -> its epoch
-- KEYS[5] my_seq  STRING the caller's last applied flush batch
-- ARGV[1] op   ARGV[2] caller id   ARGV[3] dead threshold, ms
-- ARGV[4] instance hash key prefix   ARGV[5] seq key prefix   ARGV[6..] per op
--
-- A slice counts only while its epoch is the key's epoch; an older one is
-- stale, reads as 0 and is never subtracted. Invariant after every call:
-- cum[key] == sum of the current-epoch slices of the live instances.
-- Replies carry each key's {cumulative, slice, epoch}, and whether the
-- caller had been reaped (absent from `live`), so it can restore other keys.
local live, cum, epochs, mine, my_seq = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local op, me, threshold = ARGV[1], ARGV[2], tonumber(ARGV[3])
local instance_prefix, seq_prefix = ARGV[4], ARGV[5]

local function negate(value)
  if value == '0' then return '0' end
  if string.sub(value, 1, 1) == '-' then return string.sub(value, 2) end
  return '-' .. value
end

local function epoch_of(key)
  return redis.call('HGET', epochs, key) or '0'
end

-- The slice `hash` holds for key if it is of the current epoch, else nil.
local function current_slice(hash, key, epoch)
  if redis.call('HGET', hash, 'e:' .. key) ~= epoch then return nil end
  return redis.call('HGET', hash, 's:' .. key)
end

local function reap(id)
  local hash = instance_prefix .. id
  local flat = redis.call('HGETALL', hash)
  local fields = {}
  for i = 1, #flat, 2 do fields[flat[i]] = flat[i + 1] end
  for field, slice in pairs(fields) do
    if string.sub(field, 1, 2) == 's:' then
      local key = string.sub(field, 3)
      if slice ~= '0' and fields['e:' .. key] == epoch_of(key) then add_to_field(cum, key, negate(slice)) end
    end
  end
  redis.call('DEL', hash, seq_prefix .. id)  -- its batches may be applied again on top of a restore
  redis.call('ZREM', live, id)
end

-- Returns true if the caller had been reaped (or is new).
local function heartbeat_and_reap()
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local absent = not redis.call('ZSCORE', live, me)
  redis.call('ZADD', live, string.format('%.0f', now), me)
  local dead = redis.call('ZRANGEBYSCORE', live, '-inf', '(' .. string.format('%.0f', now - threshold))
  for _, id in ipairs(dead) do reap(id) end
  return absent
end

-- The caller has no entry for key although it holds a slice Redis acknowledged
-- in this very epoch: only reaping removes entries, so put the slice back.
local function restore(key, known_slice, known_epoch, epoch)
  if known_slice == '0' or known_epoch ~= epoch or redis.call('HEXISTS', mine, 'e:' .. key) == 1 then return end
  if add_to_field(cum, key, known_slice) then
    redis.call('HSET', mine, 's:' .. key, known_slice, 'e:' .. key, epoch)
  end
end

-- slice += delta (or := delta if stale), cum += delta. nil on overflow, unchanged.
-- A slice of INT64_MIN counts as overflow: taking it away would negate it.
-- (The client never sends a delta of INT64_MIN.)
local function inc(key, delta, epoch)
  local slice = current_slice(mine, key, epoch)
  local total = add_to_field(cum, key, delta)
  if not total then return nil end
  if not slice then
    redis.call('HSET', mine, 's:' .. key, delta, 'e:' .. key, epoch)
    return total, delta
  end
  local new_slice = add_to_field(mine, 's:' .. key, delta)
  if not new_slice or new_slice == '-9223372036854775808' then
    if new_slice then add_to_field(mine, 's:' .. key, negate(delta)) end
    add_to_field(cum, key, negate(delta))
    return nil
  end
  return total, new_slice
end

local function counts(total, slice, epoch, absent)
  return {total, slice, epoch, absent and 1 or 0}
end

local absent = heartbeat_and_reap()

if op == 'heartbeat' then  -- ARGV[6..]: key, known slice, known epoch triples
  for i = 6, #ARGV, 3 do restore(ARGV[i], ARGV[i + 1], ARGV[i + 2], epoch_of(ARGV[i])) end
  return absent and 1 or 0
elseif op == 'flush' then  -- ARGV[6] sequence, then key, delta, known slice, known epoch quads
  local applied = tonumber(ARGV[6]) > tonumber(redis.call('GET', my_seq) or '0')
  local out, overflowed = {}, {}
  for i = 7, #ARGV, 4 do
    local key = ARGV[i]
    local epoch = epoch_of(key)
    restore(key, ARGV[i + 2], ARGV[i + 3], epoch)
    if applied and not inc(key, ARGV[i + 1], epoch) then overflowed[#overflowed + 1] = key end
    out[#out + 1] = redis.call('HGET', cum, key) or '0'
    out[#out + 1] = current_slice(mine, key, epoch) or '0'
    out[#out + 1] = epoch
  end
  if applied then redis.call('SET', my_seq, ARGV[6], 'EX', 86400) end
  return {applied and 1 or 0, absent and 1 or 0, out, overflowed}
elseif op == 'leave' then  -- graceful shutdown: go as if reaped, at once
  reap(me)
  return 1
elseif op == 'clear' then
  for _, key in ipairs(redis.call('HKEYS', cum)) do redis.call('HINCRBY', epochs, key, 1) end
  for _, id in ipairs(redis.call('ZRANGE', live, 0, -1)) do redis.call('DEL', instance_prefix .. id) end
  redis.call('DEL', live, cum)
  return 1
elseif op == 'clear_on_instance' then
  local flat = redis.call('HGETALL', mine)
  for i = 1, #flat, 2 do
    local key = string.sub(flat[i], 3)
    if string.sub(flat[i], 1, 2) == 's:' and flat[i + 1] ~= '0' and current_slice(mine, key, epoch_of(key)) then
      add_to_field(cum, key, negate(flat[i + 1]))
      redis.call('HSET', mine, flat[i], '0')  -- a zero, not a hole: holes mean "reaped"
    end
  end
  return 1
end

-- Single-key operations. ARGV[6] key, ARGV[7] known slice, ARGV[8] known epoch, ARGV[9] operand.
local key, operand = ARGV[6], ARGV[9]
local epoch = epoch_of(key)
restore(key, ARGV[7], ARGV[8], epoch)
local total = redis.call('HGET', cum, key) or '0'
local slice = current_slice(mine, key, epoch) or '0'

if op == 'get' then
  return counts(total, slice, epoch, absent)
elseif op == 'inc' then
  local new_total, new_slice = inc(key, operand, epoch)
  if not new_total then return overflow_error(key) end
  return counts(new_total, new_slice, epoch, absent)
elseif op == 'set' then
  local new_epoch = tostring(redis.call('HINCRBY', epochs, key, 1))
  redis.call('HSET', cum, key, operand)
  redis.call('HSET', mine, 's:' .. key, operand, 'e:' .. key, new_epoch)
  return counts(operand, operand, new_epoch, absent)
elseif op == 'set_on_instance' then
  if not add_to_field(cum, key, negate(slice)) then return overflow_error(key) end
  local new_total = add_to_field(cum, key, operand)
  if not new_total then
    add_to_field(cum, key, slice)
    return overflow_error(key)
  end
  redis.call('HSET', mine, 's:' .. key, operand, 'e:' .. key, epoch)
  return counts(new_total, operand, epoch, absent)
elseif op == 'del' then
  local new_epoch = tostring(redis.call('HINCRBY', epochs, key, 1))
  redis.call('HDEL', cum, key)
  redis.call('HDEL', mine, 's:' .. key, 'e:' .. key)
  return counts(total, slice, new_epoch, absent)
elseif op == 'del_on_instance' then
  if slice ~= '0' then total = add_to_field(cum, key, negate(slice)) end
  redis.call('HSET', mine, 's:' .. key, '0', 'e:' .. key, epoch)  -- a zero, not a hole
  return counts(total, slice, epoch, absent)
end
return redis.error_reply('ERR unknown instance-aware operation ' .. tostring(op))
