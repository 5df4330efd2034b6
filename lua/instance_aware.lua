-- StrictInstanceAwareCounter (and the backend of the lax one).
-- Every call: record the caller's heartbeat, reap dead instances, restore the
-- caller's reaped slices it still knows, then apply the operation.
--
-- KEYS[1] live    ZSET  instance id -> last heartbeat, server ms
-- KEYS[2] cum     HASH  key -> cumulative over live instances
-- KEYS[3] epochs  HASH  key -> epoch, bumped by set/del/clear (missing = 0)
-- KEYS[4] mine    HASH  the caller's slices: s:<key> -> slice, e:<key> -> its epoch
-- KEYS[5] my_seq  STRING the caller's last applied flush batch on this lane (<seq prefix><id>:<lane>)
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

-- HMGET of any number of fields (unpack has a limit), as one table; false
-- where a field is missing.
local function hmget(hash, fields)
  local values = {}
  for first = 1, #fields, 1000 do
    local part = redis.call('HMGET', hash, unpack(fields, first, math.min(first + 999, #fields)))
    for j = 1, #part do values[first + j - 1] = part[j] end
  end
  return values
end

-- A hash's fields as a table.
local function fields_of(hash)
  local flat = redis.call('HGETALL', hash)
  local fields = {}
  for i = 1, #flat, 2 do fields[flat[i]] = flat[i + 1] end
  return fields
end

-- Takes the current-epoch slices among an instance's fields (of its hash)
-- out of the cumulatives: all of them, or none when one would leave its
-- cumulative outside int64 (the rest of the fleet's sum of that key does not
-- fit). Returns true, or false and that key.
local function take_slices_out(fields)
  local taken = {}
  for field, slice in pairs(fields) do
    local key = string.sub(field, 3)
    if string.sub(field, 1, 2) == 's:' and slice ~= '0' and fields['e:' .. key] == epoch_of(key) then
      if not add_to_field(cum, key, negate(slice)) then
        for _, done in ipairs(taken) do add_to_field(cum, done, fields['s:' .. done]) end
        return false, key
      end
      taken[#taken + 1] = key
    end
  end
  return true
end

-- Removes an instance and its slices. An instance whose slices cannot all
-- leave stays live, counted, and is tried again at the next reap. Returns
-- nil, or the key that kept it.
local function reap(id)
  local hash = instance_prefix .. id
  local ok, stuck = take_slices_out(fields_of(hash))
  if not ok then return stuck end
  -- Its flush lanes' records (4 lanes, see lax_engine.hpp): its batches may
  -- be applied again on top of a restore.
  local seq = seq_prefix .. id .. ':'
  redis.call('DEL', hash, seq .. '0', seq .. '1', seq .. '2', seq .. '3')
  redis.call('ZREM', live, id)
  return nil
end

-- Returns true if the caller had been reaped (or is new).
local function heartbeat_and_reap()
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  -- ZADD counts the members it added, not those whose score it updated:
  -- 1 exactly when the caller was absent.
  local absent = redis.call('ZADD', live, string.format('%.0f', now), me) == 1
  local dead = redis.call('ZRANGEBYSCORE', live, '-inf', '(' .. string.format('%.0f', now - threshold))
  for _, id in ipairs(dead) do reap(id) end
  return absent
end

-- The caller has no entry for key although it holds a slice Redis acknowledged
-- in this very epoch: only reaping removes entries, so put the slice back.
-- Returns the restored slice, or nil.
local function restore(key, known_slice, known_epoch, epoch)
  if known_slice == '0' or known_epoch ~= epoch or not add_to_field(cum, key, known_slice) then return nil end
  redis.call('HSET', mine, 's:' .. key, known_slice, 'e:' .. key, epoch)
  return known_slice
end

-- The caller's slice of key if it is of the current epoch, else nil; a
-- reaped one (no entry at all) is restored first. `entry_epoch` and
-- `entry_slice`: the caller's e:<key> and s:<key> as read (false or nil if
-- missing).
local function my_slice(key, epoch, entry_epoch, entry_slice, known_slice, known_epoch)
  if not entry_epoch then return restore(key, known_slice, known_epoch, epoch) end
  if entry_epoch ~= epoch then return nil end
  return entry_slice
end

-- my_slice, reading the caller's entry for key (one HMGET for both fields).
local function read_my_slice(key, epoch, known_slice, known_epoch)
  local entry = redis.call('HMGET', mine, 'e:' .. key, 's:' .. key)
  return my_slice(key, epoch, entry[1], entry[2], known_slice, known_epoch)
end

-- During a flush: what it sets in the caller's hash (field, value, ...), for
-- one HSET at the end. A HINCRBY or HSET per key costs more, above all on a
-- small hash stored as a listpack, which each of them scans. It never holds
-- a field of the key being worked on: a key met again in the batch writes
-- the queue out first. nil outside a flush.
local queued = nil

local function write_queued()
  for first = 1, #queued, 1000 do  -- unpack has a limit
    redis.call('HSET', mine, unpack(queued, first, math.min(first + 999, #queued)))
  end
  queued = {}
end

-- HSET of the caller's hash; queued in a flush.
local function set_mine(...)
  if not queued then return redis.call('HSET', mine, ...) end
  for _, v in ipairs({...}) do queued[#queued + 1] = v end
end

-- An integer as Redis writes and takes it: no leading zeros, no "-0".
local function is_integer_text(s)
  return s == '0' or string.find(s, '^%-?[1-9]%d*$') ~= nil
end

-- a + b for decimal strings, done in Lua when that is exact: both integers
-- as Redis takes them, they and their sum below 2^53 in magnitude (so no
-- int64 overflow either). nil otherwise: HINCRBY must do it.
local function exact_sum(a, b)
  if not (is_integer_text(a) and is_integer_text(b)) then return nil end
  local x, y = tonumber(a), tonumber(b)
  local sum = x + y
  if x >= exact_below or x <= -exact_below or y >= exact_below or y <= -exact_below
      or sum >= exact_below or sum <= -exact_below then
    return nil
  end
  return string.format('%d', sum)
end

-- cum += delta; slice += delta, or := delta if `slice` (the caller's current
-- one, from my_slice) is nil. Returns the new cumulative and slice; nil on
-- overflow, changing nothing. A slice of INT64_MIN counts as overflow:
-- taking it away would negate it. (The client never sends a delta of
-- INT64_MIN.) In a flush the new slice is summed in Lua when exact_sum can,
-- and queued.
local function inc(key, delta, epoch, slice)
  local total = add_to_field(cum, key, delta)
  if not total then return nil end
  if not slice then
    set_mine('s:' .. key, delta, 'e:' .. key, epoch)
    return total, delta
  end
  local new_slice = queued and exact_sum(slice, delta)
  if new_slice then
    set_mine('s:' .. key, new_slice)
    return total, new_slice
  end
  new_slice = add_to_field(mine, 's:' .. key, delta)
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
  for i = 6, #ARGV, 3 do read_my_slice(ARGV[i], epoch_of(ARGV[i]), ARGV[i + 1], ARGV[i + 2]) end
  return absent and 1 or 0
elseif op == 'flush' then  -- ARGV[6] sequence, then key, delta, known slice, known epoch quads
  -- A batch already applied (re-sent after a lost reply) only reads. So does
  -- a delta of "0": no HINCRBY by 0, no slice entry created (a reaped slice
  -- is still restored), so a client may send one just to refresh its counts.
  local applied = tonumber(ARGV[6]) > tonumber(redis.call('GET', my_seq) or '0')
  -- Every key's epoch and the caller's entries are read up front. Only a key
  -- met again in the batch has its entry read anew (this loop wrote it).
  local keys = {}
  for i = 7, #ARGV, 4 do keys[#keys + 1] = ARGV[i] end
  local key_epochs, entries = hmget(epochs, keys), nil  -- entries: field -> value
  if redis.call('HLEN', mine) <= 4 * #keys then
    -- Not much more than the batch's fields: read it whole. A small hash may
    -- be a listpack, where HMGET scans the whole hash for each field.
    entries = fields_of(mine)
  else
    local fields = {}
    for _, key in ipairs(keys) do
      fields[#fields + 1] = 'e:' .. key
      fields[#fields + 1] = 's:' .. key
    end
    local values = hmget(mine, fields)
    entries = {}
    for j, field in ipairs(fields) do entries[field] = values[j] end
  end
  local seen, out, overflowed = {}, {}, {}
  queued = {}
  for n, key in ipairs(keys) do
    local i = 7 + 4 * (n - 1)
    local delta, known_slice, known_epoch = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    local epoch = key_epochs[n] or '0'
    local slice
    if seen[key] then
      write_queued()  -- so that Redis has what this loop did to the key
      slice = read_my_slice(key, epoch, known_slice, known_epoch)
    else
      slice = my_slice(key, epoch, entries['e:' .. key], entries['s:' .. key], known_slice, known_epoch)
      seen[key] = true
    end
    local total, new_slice
    if applied and delta ~= '0' then
      total, new_slice = inc(key, delta, epoch, slice)
      if not total then overflowed[#overflowed + 1] = key end
    end
    out[#out + 1] = total or field_or_zero(cum, key)
    out[#out + 1] = new_slice or slice or '0'
    out[#out + 1] = epoch
  end
  write_queued()
  if applied then redis.call('SET', my_seq, ARGV[6], 'EX', 86400) end
  return {applied and 1 or 0, absent and 1 or 0, out, overflowed}
elseif op == 'leave' then  -- graceful shutdown: go as if reaped, at once; or the key that keeps us
  return reap(me) or 1
elseif op == 'clear' then
  for _, key in ipairs(redis.call('HKEYS', cum)) do redis.call('HINCRBY', epochs, key, 1) end
  for _, id in ipairs(redis.call('ZRANGE', live, 0, -1)) do redis.call('DEL', instance_prefix .. id) end
  redis.call('DEL', live, cum)
  return 1
elseif op == 'clear_on_instance' then  -- 1, or the key whose cumulative would leave int64
  local fields = fields_of(mine)
  local ok, stuck = take_slices_out(fields)
  if not ok then return stuck end
  for field, slice in pairs(fields) do  -- zeros, not holes: holes mean "reaped"
    if string.sub(field, 1, 2) == 's:' and slice ~= '0' then redis.call('HSET', mine, field, '0') end
  end
  return 1
end

-- Single-key operations. ARGV[6] key, ARGV[7] known slice, ARGV[8] known epoch, ARGV[9] operand.
local key, operand = ARGV[6], ARGV[9]
local epoch = epoch_of(key)
local slice = read_my_slice(key, epoch, ARGV[7], ARGV[8])  -- nil: none, or stale

if op == 'get' then
  return counts(field_or_zero(cum, key), slice or '0', epoch, absent)
elseif op == 'inc' then
  local new_total, new_slice = inc(key, operand, epoch, slice)
  if not new_total then return overflow_error(key) end
  return counts(new_total, new_slice, epoch, absent)
elseif op == 'set' then
  local new_epoch = tostring(redis.call('HINCRBY', epochs, key, 1))
  redis.call('HSET', cum, key, operand)
  redis.call('HSET', mine, 's:' .. key, operand, 'e:' .. key, new_epoch)
  return counts(operand, operand, new_epoch, absent)
elseif op == 'set_on_instance' then
  slice = slice or '0'
  if slice ~= '0' and not add_to_field(cum, key, negate(slice)) then return overflow_error(key) end
  local new_total = add_to_field(cum, key, operand)
  if not new_total then
    if slice ~= '0' then add_to_field(cum, key, slice) end
    return overflow_error(key)
  end
  redis.call('HSET', mine, 's:' .. key, operand, 'e:' .. key, epoch)
  return counts(new_total, operand, epoch, absent)
elseif op == 'del' then
  local total = field_or_zero(cum, key)
  local new_epoch = tostring(redis.call('HINCRBY', epochs, key, 1))
  redis.call('HDEL', cum, key)
  redis.call('HDEL', mine, 's:' .. key, 'e:' .. key)
  return counts(total, slice or '0', new_epoch, absent)
elseif op == 'del_on_instance' then
  slice = slice or '0'
  local total
  if slice == '0' then
    total = field_or_zero(cum, key)
  else
    total = add_to_field(cum, key, negate(slice))
    if not total then return overflow_error(key) end  -- the others' sum is beyond int64
  end
  redis.call('HSET', mine, 's:' .. key, '0', 'e:' .. key, epoch)  -- a zero, not a hole
  return counts(total, slice, epoch, absent)
end
return redis.error_reply('ERR unknown instance-aware operation ' .. tostring(op))
