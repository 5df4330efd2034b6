-- Helpers prepended to every distkit script.
-- Numbers travel as decimal strings: Lua numbers are doubles (exact only to
-- 2^53, and printed as 1e+15 or -0), so values go to HINCRBY exactly as the
-- client sent them and come back as text, never through a double that could
-- have rounded them.

-- HINCRBY's integer reply reaches Lua as a double. Below 2^53 in magnitude it
-- is the exact value, and %d prints it exactly (as a C long: no exponent, no
-- -0); beyond, it may be rounded, so the field is read back as text instead.
local exact_below = 2 ^ 53

-- Adds `delta` to hash field; returns the new value as a string, or nil
-- (changing nothing) when the result would overflow int64.
local function add_to_field(hash, field, delta)
  local res = redis.pcall('HINCRBY', hash, field, delta)
  if type(res) == 'table' and res.err then
    if string.find(res.err, 'overflow', 1, true) then return nil end
    return error(res.err)
  end
  if res < exact_below and res > -exact_below then return string.format('%d', res) end
  return redis.call('HGET', hash, field)
end

local function field_or_zero(hash, field)
  return redis.call('HGET', hash, field) or '0'
end

local function overflow_error(what)
  return redis.error_reply('OVERFLOW ' .. what .. ' would overflow int64')
end
