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

-- Compares two int64 decimal strings exactly (-1, 0 or 1), never through a
-- double: by sign, then length, then digits. Both are as the client or
-- HINCRBY wrote them: no leading zeros, no '+', no '-0'.
local function compare_integers(a, b)
  local a_negative, b_negative = string.byte(a) == 45, string.byte(b) == 45  -- '-'
  if a_negative ~= b_negative then return a_negative and -1 or 1 end
  if a == b then return 0 end
  local c = 0
  if #a ~= #b then
    c = #a < #b and -1 or 1
  else  -- byte by byte: Lua's '<' on strings follows the server's locale
    for i = 1, #a do
      local x, y = string.byte(a, i), string.byte(b, i)
      if x ~= y then
        c = x < y and -1 or 1
        break
      end
    end
  end
  if a_negative then return -c end
  return c
end

-- Whether `current` passes the comparison `kind` ('eq', 'ne', 'lt', 'le',
-- 'gt', 'ge', 'always') with `operand` (distkit::Compare).
local function passes(current, kind, operand)
  if kind == 'always' then return true end
  local c = compare_integers(current, operand)
  if kind == 'eq' then return c == 0 end
  if kind == 'ne' then return c ~= 0 end
  if kind == 'lt' then return c < 0 end
  if kind == 'le' then return c <= 0 end
  if kind == 'gt' then return c > 0 end
  if kind == 'ge' then return c >= 0 end
  return error('unknown comparison ' .. tostring(kind))
end
