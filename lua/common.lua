-- Helpers prepended to every distkit script.
-- Numbers travel as decimal strings: Lua numbers are doubles (exact only to
-- 2^53, and printed as 1e+15 or -0), so values go to HINCRBY exactly as the
-- client sent them and come back through HGET, never through tonumber().

-- Adds `delta` to hash field; returns the new value as a string, or nil
-- (changing nothing) when the result would overflow int64.
local function add_to_field(hash, field, delta)
  local res = redis.pcall('HINCRBY', hash, field, delta)
  if type(res) == 'table' and res.err then
    if string.find(res.err, 'overflow', 1, true) then return nil end
    return error(res.err)
  end
  return redis.call('HGET', hash, field)
end

local function field_or_zero(hash, field)
  return redis.call('HGET', hash, field) or '0'
end

local function overflow_error(what)
  return redis.error_reply('OVERFLOW ' .. what .. ' would overflow int64')
end
