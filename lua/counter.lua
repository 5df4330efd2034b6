-- StrictCounter and LaxCounter: one hash of totals per prefix.
-- KEYS[1]: {prefix}:totals      ARGV[1]: operation
-- flush also takes KEYS[2]: {prefix}:seq:<writer id>, the writer's last applied batch.
local totals = KEYS[1]
local op = ARGV[1]

-- The ops on one field, each with its arguments at ARGV[at]:
--   get: field                inc, set: field, operand
--   inc_if, set_if: field, comparison, its operand, operand
-- Returns the op's reply (inc_if, set_if: {value, previous, applied}; not
-- applied, nothing changes), or nil when it would overflow int64 (changing
-- nothing).
local function apply(item_op, at)
  local field = ARGV[at]
  if item_op == 'get' then return field_or_zero(totals, field) end
  if item_op == 'inc' then return add_to_field(totals, field, ARGV[at + 1]) end
  if item_op == 'set' then
    redis.call('HSET', totals, field, ARGV[at + 1])
    return ARGV[at + 1]
  end
  if item_op ~= 'inc_if' and item_op ~= 'set_if' then return error('unknown counter operation ' .. tostring(item_op)) end
  local previous = field_or_zero(totals, field)
  if not passes(previous, ARGV[at + 1], ARGV[at + 2]) then return {previous, previous, 0} end
  local operand = ARGV[at + 3]
  if item_op == 'set_if' then
    redis.call('HSET', totals, field, operand)
    return {operand, previous, 1}
  end
  if operand == '0' then return {previous, previous, 1} end  -- applied; no HINCRBY by 0 creating the field
  local value = add_to_field(totals, field, operand)
  return value and {value, previous, 1}
end

if op == 'del' then            -- ARGV: field
  local old = field_or_zero(totals, ARGV[2])
  redis.call('HDEL', totals, ARGV[2])
  return old
elseif op == 'clear' then
  redis.call('DEL', totals)
  return 'OK'
elseif op == 'all' then        -- ARGV[2]: the op of every item, then the items
  -- Applied in order (a field given twice, twice); the reply is each
  -- item's, in order. All or nothing: if an item would overflow (or fails:
  -- a field that is no integer), the fields the batch wrote get their old
  -- values back and the call fails.
  local each = ARGV[2]
  local stride = (each == 'get' and 1) or (string.sub(each, -3) == '_if' and 4) or 2
  if (#ARGV - 2) / stride > 100 then return redis.error_reply('ERR a batch has at most 100 items') end
  local fields, old = {}, {}
  if each ~= 'get' and #ARGV > 2 then
    for at = 3, #ARGV, stride do fields[#fields + 1] = ARGV[at] end
    old = redis.call('HMGET', totals, unpack(fields))
  end
  local out = {}
  for at = 3, #ARGV, stride do
    local ok, value = pcall(apply, each, at)
    if not ok or value == nil then
      for j, field in ipairs(fields) do  -- read before any write: a field given twice has its old value twice
        if old[j] then redis.call('HSET', totals, field, old[j]) else redis.call('HDEL', totals, field) end
      end
      if not ok then return error(value, 0) end
      return overflow_error(ARGV[at])
    end
    out[#out + 1] = value
  end
  return out
elseif op == 'flush' then      -- ARGV: sequence, then field, delta pairs
  -- A batch re-sent after a lost reply carries the same sequence: skip it.
  -- A delta of "0" is not applied (no HINCRBY by 0, which would create the
  -- field): the key is only read, so a writer may put it in a batch just to
  -- refresh its cached total.
  local applied = tonumber(ARGV[2]) > tonumber(redis.call('GET', KEYS[2]) or '0')
  local values, overflowed = {}, {}
  for i = 3, #ARGV, 2 do
    local field, delta, value = ARGV[i], ARGV[i + 1], nil
    if applied and delta ~= '0' then
      value = add_to_field(totals, field, delta)
      if not value then overflowed[#overflowed + 1] = field end
    end
    values[#values + 1] = value or field_or_zero(totals, field)
  end
  if applied then redis.call('SET', KEYS[2], ARGV[2], 'EX', 86400) end
  return {applied and 1 or 0, values, overflowed}
end
local value = apply(op, 2)  -- get, inc, set, inc_if, set_if
if value == nil then return overflow_error(ARGV[2]) end
return value
