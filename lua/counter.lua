-- StrictCounter and LaxCounter: one hash of totals per prefix.
-- KEYS[1]: {prefix}:totals      ARGV[1]: operation
-- flush also takes KEYS[2]: {prefix}:seq:<writer id>, the writer's last applied batch.
local totals = KEYS[1]
local op = ARGV[1]

if op == 'inc' then            -- ARGV: field, delta
  local value = add_to_field(totals, ARGV[2], ARGV[3])
  if not value then return overflow_error(ARGV[2]) end
  return value
elseif op == 'get' then        -- ARGV: field
  return field_or_zero(totals, ARGV[2])
elseif op == 'set' then        -- ARGV: field, value
  redis.call('HSET', totals, ARGV[2], ARGV[3])
  return ARGV[3]
elseif op == 'inc_if' then     -- ARGV: field, comparison, operand, delta
  -- Returns {value, previous, applied}; not applied, nothing changes.
  local previous = field_or_zero(totals, ARGV[2])
  if not passes(previous, ARGV[3], ARGV[4]) then return {previous, previous, 0} end
  if ARGV[5] == '0' then return {previous, previous, 1} end  -- applied; no HINCRBY by 0 creating the field
  local value = add_to_field(totals, ARGV[2], ARGV[5])
  if not value then return overflow_error(ARGV[2]) end
  return {value, previous, 1}
elseif op == 'set_if' then     -- ARGV: field, comparison, operand, value
  local previous = field_or_zero(totals, ARGV[2])
  if not passes(previous, ARGV[3], ARGV[4]) then return {previous, previous, 0} end
  redis.call('HSET', totals, ARGV[2], ARGV[5])
  return {ARGV[5], previous, 1}
elseif op == 'del' then        -- ARGV: field
  local old = field_or_zero(totals, ARGV[2])
  redis.call('HDEL', totals, ARGV[2])
  return old
elseif op == 'clear' then
  redis.call('DEL', totals)
  return 'OK'
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
return redis.error_reply('ERR unknown counter operation ' .. tostring(op))
