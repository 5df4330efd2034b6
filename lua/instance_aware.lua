-- StrictInstanceAwareCounter (and the backend of the lax one), layout 2.
-- Every call: register the caller (its deadline), find dead instances, do one
-- bounded step of pending work, apply the operation.
--
-- KEYS[1]  live     ZSET  live instance id -> its deadline, server ms (now + its own threshold)
-- KEYS[2]  cum      HASH  key -> cumulative of the counted slices
-- KEYS[3]  epoch    HASH  key -> its epoch; none: no slice of the key counts
-- KEYS[4]  meta     HASH  layout -> "2"; epoch -> the last epoch handed out
-- KEYS[5]  jobs     ZSET  id of an instance whose slices must move -> not before, ms
-- KEYS[6]  cursors  HASH  id -> "<direction>:<HSCAN cursor>" of its job
-- KEYS[7]  lease    STRING the id of the background driver at work
-- KEYS[8]  v1       the live set of layout 1 (only read when an instance registers)
-- KEYS[9]  mine     HASH  the caller's counted slices: s:<key> -> slice, e:<key> -> its epoch;
--                         q:<lane> -> the last flush batch applied on that lane (so the
--                         records live, are parked and expire with the slices);
--                         r -> its parked_retention; p -> parked slices wait to be restored;
--                         left -> it has left (a tombstone)
-- KEYS[10] park     HASH  the caller's parked slices, as in mine
-- KEYS[11] KEYS[12] the job named in ARGV[6], if any: its instance hash and park hash
-- ARGV[1] op  ARGV[2] caller id  ARGV[3] its threshold, ms  ARGV[4] its parked_retention, ms
-- ARGV[5] work budget  ARGV[6] job id or ""  ARGV[7..] per op
--
-- A slice counts while it is in its instance's hash and its epoch is its
-- key's epoch; an older one is stale, reads as 0, is never added or taken
-- away. Epochs come from one family-wide counter, so an epoch is never
-- reused. Invariant after every call: cum[key] == the sum of the current
-- slices in the instance hashes. A reap moves a dead instance's current
-- slices to its park hash (out of the cumulatives), a return moves them back
-- (into them), a leave drops them: each a job of bounded steps, one slice at
-- a time, so each slice is counted or parked, never both.
-- Reply: {status, next job or "", work units done, op's own reply}; status
-- 0: was live, 1: came back from a reap, 2: registered as new.
--
-- Cost: every `local function` of a chunk is a new closure at every call, so
-- what most calls never run (jobs, registration, unparking) is built by
-- tools() only in the calls that need it, the flush helpers only in a flush,
-- and what runs once is written inline.
local live, cum, epochs, meta, jobs, cursors, lease, v1 =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local my_inst, my_park = KEYS[9], KEYS[10]
local op, me, threshold, retention = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local job = ARGV[6]

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local work = 0  -- fields and instances this call went through
-- While any job is queued, `live` also holds this member with score 0 (a
-- "deadline" always past): the one range query over `live` that every call
-- makes to find dead instances then tells it that jobs wait, and a call
-- looks at `jobs` only then.
local jobs_marker = '~jobs'

-- Milliseconds as text: %d prints an integer (a C long), %.0f would go through
-- the costlier floating-point printf.
local function ms(n) return string.format('%d', n) end

local function negate(value)
  if value == '0' then return '0' end
  if string.sub(value, 1, 1) == '-' then return string.sub(value, 2) end
  return '-' .. value
end

local function new_epoch(key)
  local e = tostring(redis.call('HINCRBY', meta, 'epoch', 1))
  redis.call('HSET', epochs, key, e)
  return e
end

-- ---- jobs, registration --------------------------------------------------------

local tools_built = nil
local function tools()
  if tools_built then return tools_built end
  local tools = {}
  tools_built = tools
  local layout, lease_ms, retry_stuck_ms = '2', 2000, 1000
  local budget = tonumber(ARGV[5])

  local function fail(code, message) error({err = code .. ' ' .. message}) end

  -- An instance's keys in KEYS from `first` on: its hash and park hash.
  function tools.keys_at(first) return {inst = KEYS[first], park = KEYS[first + 1]} end
  tools.my = tools.keys_at(9)

  -- Queues the jobs of args (score, id, ...); a job already queued keeps
  -- its place unless `now_due`.
  function tools.queue(args, now_due)
    if now_due then redis.call('ZADD', jobs, unpack(args)) else redis.call('ZADD', jobs, 'NX', unpack(args)) end
    redis.call('ZADD', live, 0, jobs_marker)
  end

  function tools.unqueue(id)
    redis.call('ZREM', jobs, id)
    redis.call('HDEL', cursors, id)
    if redis.call('EXISTS', jobs) == 0 then redis.call('ZREM', live, jobs_marker) end
  end

  -- The slices of `names` (distinct keys, at most one call's budget of
  -- them: unpack takes some 8,000 values) in `hash`, with their epochs and their keys' epochs: one
  -- HMGET each, whatever their number.
  function tools.read_slices(hash, names)
    local fields = {}
    for _, key in ipairs(names) do
      fields[#fields + 1] = 's:' .. key
      fields[#fields + 1] = 'e:' .. key
    end
    local v = redis.call('HMGET', hash, unpack(fields))
    local current = redis.call('HMGET', epochs, unpack(names))
    local slices = {}
    for i, key in ipairs(names) do
      slices[i] = {key = key, slice = v[2 * i - 1], epoch = v[2 * i], current = current[i]}
    end
    return slices
  end

  -- Moves the slices of `names` (as in read_slices) out of `from` (the
  -- instance hash or the park hash of `keys`): `to` 'park' takes a current
  -- slice out of its cumulative and parks it, 'inst' puts it back, 'drop'
  -- takes it out for good. A stale slice is dropped without touching any
  -- cumulative. A slice whose cumulative would leave int64 stays where it
  -- is. Returns how many moved, and the keys that could not.
  function tools.move(keys, from, to, names)
    local moved, stuck, put, gone = 0, {}, {}, {}
    local function write()  -- the slices whose cumulatives have moved
      if #put > 0 then redis.call('HSET', keys[to], unpack(put)) end
      if #gone > 0 then redis.call('HDEL', from, unpack(gone)) end
    end
    for _, s in ipairs(tools.read_slices(from, names)) do
      if s.slice then
        local ok = true
        if s.epoch and s.epoch == s.current and s.slice ~= '0' then
          local called, total = pcall(add_to_field, cum, s.key, to == 'inst' and s.slice or negate(s.slice))
          -- An error (a field that is no integer) ends the script, and what
          -- it did stays: the slices already counted move first.
          if not called then write() error(total, 0) end
          ok = total ~= nil
          if ok and to ~= 'drop' then
            for _, v in ipairs({'s:' .. s.key, s.slice, 'e:' .. s.key, s.epoch}) do put[#put + 1] = v end
          end
        end
        if ok then
          gone[#gone + 1] = 's:' .. s.key
          gone[#gone + 1] = 'e:' .. s.key
          moved = moved + 1
        else
          stuck[#stuck + 1] = s.key
        end
      end
    end
    write()
    return moved, stuck
  end

  -- Which way an instance's slices must go: back into its hash while it is
  -- live, out of it while it is dead, away when it has left.
  local function direction(id, keys)
    if redis.call('ZSCORE', live, id) then return 'inst', keys.park end
    if redis.call('HEXISTS', keys.inst, 'left') == 1 then return 'drop', keys.inst end
    return 'park', keys.inst
  end

  local function finish(id, keys, to)
    tools.unqueue(id)
    if to == 'inst' then
      redis.call('HDEL', keys.inst, 'p')
      return
    end
    -- Parked or left: the instance's state (with its sequence records, and
    -- a tombstone after a leave) stays for its parked_retention, then goes.
    local ttl = redis.call('HGET', keys.inst, 'r') or retention
    redis.call('PEXPIRE', keys.inst, ttl)
    redis.call('PEXPIRE', keys.park, ttl)
  end

  -- Runs visit(names) on the slices of `hash` from `cursor` on, while the
  -- budget lasts: `names` are the distinct keys of one HSCAN batch's slice
  -- fields. Each field of a batch costs a unit, each HSCAN 10 more (a
  -- sparse hash, one emptied during a fork that cannot shrink, may return
  -- none). Returns the cursor to go on from, and true once the pass is over.
  -- A batch that the budget cuts short is scanned again from its start next
  -- time (what was visited is gone from the hash by then), so no field is
  -- passed over.
  function tools.scan(hash, cursor, visit)
    while work + 10 < budget do
      work = work + 10
      -- A batch sized to what is left, so that a small budget (an op's) is
      -- not cut short at the same place every time. (A hash small enough to
      -- be a listpack comes whole; the background driver's budget covers it.)
      local r = redis.call('HSCAN', hash, cursor, 'COUNT', tostring(math.min(100, budget - work)))
      local names, seen, cut = {}, {}, false
      for i = 1, #r[2], 2 do
        if work >= budget then cut = true break end
        work = work + 1
        local field = r[2][i]
        if field:sub(1, 2) == 's:' and not seen[field] then  -- HSCAN may return a field twice
          seen[field] = true
          names[#names + 1] = field:sub(3)
        end
      end
      if #names > 0 then visit(names) end
      if cut then return cursor, false end
      cursor = r[1]
      if cursor == '0' then return '0', true end
    end
    return cursor, false
  end

  -- One step of instance id's job, within what is left of the budget.
  function tools.step(id, keys)
    if work + 10 >= budget then return end  -- no room for one HSCAN
    local due = redis.call('ZSCORE', jobs, id)
    if not due or tonumber(due) > now then return end  -- done, or put off (see below)
    local to, from = direction(id, keys)
    if to == 'drop' then redis.call('UNLINK', keys.park) end  -- a leave takes its parked slices along
    -- Its cursor: "<direction> <HSCAN cursor> <slices moved> <slices that
    -- could not move>", the counts of this pass. Nobody adds a slice to the
    -- hash a job empties (an instance that returns turns the job around),
    -- so a pass that met no stuck slice has emptied it.
    local saved = redis.call('HGET', cursors, id)
    local dir, cursor, moved, stuck = string.match(saved or '', '^(%a+) (%d+) (%d+) (%d+)$')
    if dir ~= to then cursor, moved, stuck = '0', 0, 0 else moved, stuck = tonumber(moved), tonumber(stuck) end
    local over
    cursor, over = tools.scan(from, cursor, function(names)
      local n, left = tools.move(keys, from, to, names)
      moved, stuck = moved + n, stuck + #left
    end)
    if not over then
      redis.call('HSET', cursors, id, table.concat({to, cursor, moved, stuck}, ' '))
    elseif stuck == 0 then
      finish(id, keys, to)
    else
      redis.call('HDEL', cursors, id)  -- a new pass
      -- A whole pass moved nothing: only slices that cannot move (their
      -- cumulative would leave int64) are left. Try again later rather than
      -- at every call.
      if moved == 0 then redis.call('ZADD', jobs, 'XX', ms(now + retry_stuck_ms), id) end
    end
  end

  local function check_layout()
    local found = redis.call('HGET', meta, 'layout')
    if found == layout then return end
    local other = found or (redis.call('EXISTS', v1) == 1 and '1')
    if other then
      redis.call('ZREM', live, me)  -- not registered: every call fails alike
      fail('LAYOUT', 'this family has instances of layout ' .. other .. ', this client uses layout ' .. layout)
    end
    redis.call('HSET', meta, 'layout', layout)
  end

  -- The caller was not in `live`: new, back from a reap, or gone for good.
  -- Returns its status (see the header).
  function tools.register()
    local my = tools.my
    if redis.call('HEXISTS', my.inst, 'left') == 1 then
      redis.call('ZREM', live, me)
      fail('SHUTDOWN', 'instance ' .. me .. ' has left the fleet')
    end
    check_layout()
    local known = redis.call('EXISTS', my.inst, my.park) > 0
    redis.call('HSET', my.inst, 'r', retention)
    if not known then return 2 end
    -- Back from a reap (done or under way): its state is kept again, and its
    -- parked slices go back, in this call's step and later ones. A pass
    -- saved before is forgotten: it may have gone by slices added since.
    redis.call('PERSIST', my.inst)
    redis.call('PERSIST', my.park)
    redis.call('HDEL', cursors, me)
    if redis.call('EXISTS', my.park) == 1 then
      redis.call('HSET', my.inst, 'p', '1')
      tools.queue({ms(now), me})
    else
      redis.call('HDEL', my.inst, 'p')
      tools.unqueue(me)
    end
    return 1
  end

  -- Graceful shutdown, final: repeated while it answers 1.
  function tools.leave()
    local my = tools.my
    redis.call('ZREM', live, me)
    redis.call('HSET', my.inst, 'left', '1', 'r', retention)
    redis.call('HDEL', my.inst, 'p')
    tools.queue({ms(now), me}, true)
    tools.step(me, my)
    -- 0: gone; 1: more slices to take out; 2: only slices that cannot leave yet (int64)
    local at = redis.call('ZSCORE', jobs, me)
    return not at and 0 or tonumber(at) > now and 2 or 1
  end

  -- The background driver: nil if it holds the family's lease (taken
  -- now), else what to answer: {backlog, how long the lease still runs}.
  function tools.lease()
    local holder = redis.call('GET', lease)
    if holder and holder ~= me then return {redis.call('ZCARD', jobs), redis.call('PTTL', lease)} end
    redis.call('SET', lease, me, 'PX', lease_ms)
    return nil
  end
  function tools.backlog()
    local backlog = redis.call('ZCARD', jobs)
    if backlog == 0 then redis.call('DEL', lease) end
    return {backlog, 0}
  end

  -- The step of the caller's own job (its parked slices coming back).
  function tools.step_mine() tools.step(me, tools.my) end

  -- Before an op touches key, the caller's parked slice of it goes back.
  -- False if it cannot (its cumulative would leave int64): the op must not
  -- write a slice of the key meanwhile.
  function tools.unpark(key)
    local _, stuck = tools.move(tools.my, my_park, 'inst', {key})
    return #stuck == 0
  end

  return tools
end

-- Instances past their own deadline leave `live` and become jobs; the reply
-- names the next job due, if any (see jobs_marker).
local jobs_wait = false
local function reply(status, payload)
  local next_job = ''
  if jobs_wait then
    next_job = redis.call('ZRANGEBYSCORE', jobs, '-inf', ms(now), 'LIMIT', '0', '1')[1] or ''
  end
  return {status, next_job, work, payload}
end

-- ---- the caller's slices ---------------------------------------------------------

-- In a flush: its helpers (see the flush); nil outside.
local flushing = nil

-- cum += delta; slice += delta, or := delta if `slice` is false (none or
-- stale). `epoch` is the key's, never false. Returns the new cumulative and
-- slice; nil on overflow, changing nothing. A slice of INT64_MIN counts as
-- overflow: taking it away would negate it.
local function inc(key, delta, epoch, slice)
  local total = add_to_field(cum, key, delta)
  if not total then return nil end
  if not slice then
    if flushing then flushing.set_mine('s:' .. key, delta, 'e:' .. key, epoch)
    else redis.call('HSET', my_inst, 's:' .. key, delta, 'e:' .. key, epoch) end
    return total, delta
  end
  local new_slice = flushing and flushing.exact_sum(slice, delta)
  if new_slice then
    flushing.set_mine('s:' .. key, new_slice)
    return total, new_slice
  end
  new_slice = add_to_field(my_inst, 's:' .. key, delta)
  if not new_slice or new_slice == '-9223372036854775808' then
    if new_slice then add_to_field(my_inst, 's:' .. key, negate(delta)) end
    add_to_field(cum, key, negate(delta))
    return nil
  end
  return total, new_slice
end


-- ---- the call ------------------------------------------------------------------

-- Registration: the caller's deadline; see the header for its status.
local status = 0
if op ~= 'leave' and redis.call('ZADD', live, ms(now + threshold), me) == 1 then status = tools().register() end
local dead = redis.call('ZRANGEBYSCORE', live, '-inf', '(' .. ms(now), 'LIMIT', '0', '101')
if #dead > 0 then
  local args = {}
  for _, id in ipairs(dead) do
    if id == jobs_marker then
      jobs_wait = true
    else
      args[#args + 1] = ms(now)
      args[#args + 1] = id
      redis.call('ZREM', live, id)
    end
  end
  if #args > 0 then
    tools().queue(args)
    jobs_wait = true
    work = work + #args / 2
  end
end
if op == 'leave' then
  jobs_wait = true  -- its own, at least, unless it is done
  return reply(0, {tools().leave()})
end
if op == 'work' then
  local busy = tools().lease()
  if busy then return reply(status, busy) end
end
if job ~= '' and job ~= me then tools().step(job, tools().keys_at(11)) end

if op == 'heartbeat' then  -- ARGV[7]: "" or the cursor of a sweep of the caller's hash
  if redis.call('HEXISTS', my_inst, 'p') == 1 then tools().step_mine() end
  if (ARGV[7] or '') == '' then return reply(status, {}) end
  -- Slices that count for nothing (stale, or 0) leave the caller's hash, so
  -- that keys deleted or cleared by others leave no residue in it.
  local cursor, over = tools().scan(my_inst, ARGV[7], function(names)
    local gone = {}
    for _, s in ipairs(tools().read_slices(my_inst, names)) do
      if s.slice and (s.slice == '0' or s.epoch ~= s.current) then
        gone[#gone + 1] = 's:' .. s.key
        gone[#gone + 1] = 'e:' .. s.key
      end
    end
    if #gone > 0 then redis.call('HDEL', my_inst, unpack(gone)) end
  end)
  return reply(status, {cursor, over and 1 or 0})
elseif op == 'work' then
  if redis.call('HEXISTS', my_inst, 'p') == 1 then tools().step_mine() end
  return reply(status, tools().backlog())
elseif op == 'flush' then  -- ARGV[7] lane, ARGV[8] sequence, then key, delta pairs
  local my_seq = 'q:' .. ARGV[7]
  -- A batch already applied (re-sent after a lost reply) only reads. So does
  -- a delta of "0": no HINCRBY by 0, no slice entry created.
  local applied = tonumber(ARGV[8]) > tonumber(redis.call('HGET', my_inst, my_seq) or '0')
  -- The flush's helpers, built only here (see Cost in the header).
  flushing = {}
  -- What the flush sets in the caller's hash (field, value, ...), for one
  -- HSET at the end: a HINCRBY or HSET per key costs more, above all on a
  -- small hash stored as a listpack, which each of them scans. It never
  -- holds a field of the key being worked on: a key met again in the batch
  -- writes the queue out first.
  local queued = {}
  function flushing.write_queued()
    for first = 1, #queued, 1000 do  -- unpack has a limit
      redis.call('HSET', my_inst, unpack(queued, first, math.min(first + 999, #queued)))
    end
    queued = {}
  end
  function flushing.set_mine(...)
    for _, v in ipairs({...}) do queued[#queued + 1] = v end
  end
  -- An integer as Redis writes and takes it: no leading zeros, no "-0".
  local function is_integer_text(s)
    return s == '0' or string.find(s, '^%-?[1-9]%d*$') ~= nil
  end
  -- a + b for decimal strings, done in Lua when that is exact; nil otherwise.
  function flushing.exact_sum(a, b)
    if not (is_integer_text(a) and is_integer_text(b)) then return nil end
    local x, y = tonumber(a), tonumber(b)
    local sum = x + y
    if x >= exact_below or x <= -exact_below or y >= exact_below or y <= -exact_below
        or sum >= exact_below or sum <= -exact_below then
      return nil
    end
    return string.format('%d', sum)
  end
  -- HMGET of any number of fields (unpack has a limit), as one table.
  function flushing.hmget(hash, fields)
    local values = {}
    for first = 1, #fields, 1000 do
      local part = redis.call('HMGET', hash, unpack(fields, first, math.min(first + 999, #fields)))
      for j = 1, #part do values[first + j - 1] = part[j] end
    end
    return values
  end
  local keys = {}
  for i = 9, #ARGV, 2 do keys[#keys + 1] = ARGV[i] end
  local pending = redis.call('HEXISTS', my_inst, 'p') == 1
  local blocked = {}  -- keys whose parked slice cannot come back: their deltas are dropped, as on overflow
  if pending then for _, key in ipairs(keys) do if not tools().unpark(key) then blocked[key] = true end end end
  local key_epochs = flushing.hmget(epochs, keys)
  local entries = {}  -- field -> value
  if redis.call('HLEN', my_inst) <= 4 * #keys then
    -- Not much more than the batch's fields: one HGETALL costs less than an
    -- HMGET of them all.
    local flat = redis.call('HGETALL', my_inst)
    for i = 1, #flat, 2 do entries[flat[i]] = flat[i + 1] end
  else
    local fields = {}
    for _, key in ipairs(keys) do
      fields[#fields + 1] = 'e:' .. key
      fields[#fields + 1] = 's:' .. key
    end
    local values = flushing.hmget(my_inst, fields)
    for j, field in ipairs(fields) do entries[field] = values[j] end
  end
  local epoch_now, seen, out, overflowed = {}, {}, {}, {}
  for n, key in ipairs(keys) do
    local delta = ARGV[8 + 2 * n]
    local epoch = epoch_now[key]
    if epoch == nil then epoch = key_epochs[n] end
    local slice
    if seen[key] then
      flushing.write_queued()  -- so that Redis has what this loop did to the key
      local v = redis.call('HMGET', my_inst, 'e:' .. key, 's:' .. key)
      slice = epoch and v[1] == epoch and v[2]
    else
      slice = epoch and entries['e:' .. key] == epoch and entries['s:' .. key]
      seen[key] = true
    end
    local total, new_slice
    if blocked[key] then
      if applied and delta ~= '0' then overflowed[#overflowed + 1] = key end
    elseif applied and delta ~= '0' then
      if not epoch then epoch = new_epoch(key) end
      total, new_slice = inc(key, delta, epoch, slice)
      if not total then overflowed[#overflowed + 1] = key end
    end
    epoch_now[key] = epoch
    out[#out + 1] = total or field_or_zero(cum, key)
    out[#out + 1] = new_slice or slice or '0'
  end
  if applied then flushing.set_mine(my_seq, ARGV[8]) end
  flushing.write_queued()
  flushing = nil
  if pending then tools().step_mine() end
  return reply(status, {applied and 1 or 0, out, overflowed})
elseif op == 'clear' then
  -- Every slice becomes stale at once: no key has an epoch any more. Redis
  -- frees the two hashes in the background (UNLINK).
  redis.call('UNLINK', cum, epochs)
  return reply(status, {})
elseif op == 'clear_on_instance' then  -- ARGV[7] HSCAN cursor; repeated until it answers "over"
  local tl = tools()
  redis.call('UNLINK', my_park)
  redis.call('HDEL', my_inst, 'p')
  tl.unqueue(me)
  local stuck = ''
  local cursor, over = tl.scan(my_inst, ARGV[7], function(names)
    local _, left = tl.move(tl.my, my_inst, 'drop', names)
    if #left > 0 then stuck = left[1] end
  end)
  return reply(status, {cursor, over and 1 or 0, stuck})
end

-- Single-key operations: apply(op, key, operand, comparison, its operand)
-- runs one on the caller's current slice of `key` and returns its reply;
-- nil and the key on overflow, having changed nothing. Its caller steps
-- the caller's pending unparking afterwards.
local pending = false  -- whether the caller's parked slices wait to come back
local function apply(op, key, operand, kind, against)
  local epoch = redis.call('HGET', epochs, key)  -- false if none
  -- The caller's current slice of key (false if none or stale), and whether
  -- that slice is one still parked because it cannot come back (its
  -- cumulative would leave int64): it is then not counted, and only an op
  -- that replaces or removes it may go on.
  local mine, uncounted = redis.call('HMGET', my_inst, 'p', 'e:' .. key, 's:' .. key), false
  if mine[1] then
    pending = true
    if tools().unpark(key) then
      mine = redis.call('HMGET', my_inst, 'p', 'e:' .. key, 's:' .. key)
    else
      mine, uncounted = redis.call('HMGET', my_park, 'p', 'e:' .. key, 's:' .. key), true
    end
  end
  local slice = epoch and mine[2] == epoch and mine[3]
  -- A conditional op (inc_if, set_if, set_on_instance_if) compares the
  -- cumulative, or (set_on_instance_if) the caller's slice (0 if stale, or
  -- parked for good: set_on_instance replaces it as 0), and leaves the key
  -- as it is when that fails, or for an inc of 0. Its reply adds the
  -- cumulative and slice before it, and 1 if it applied.
  local before
  if string.sub(op, -3) == '_if' then
    op = string.sub(op, 1, -4)
    before = {field_or_zero(cum, key), (not uncounted and slice) or '0'}
    local applies = passes(op == 'set_on_instance' and before[2] or before[1], kind, against)
    if not applies or (op == 'inc' and operand == '0') then
      return {before[1], before[2], before[1], before[2], applies and 1 or 0}
    end
  end
  if uncounted then
    if op == 'inc' then return nil, key .. ' (a parked slice of it cannot come back)' end
    -- The op replaces or removes that slice (get only reads it): it leaves
    -- the park, never having been counted.
    if op ~= 'get' then redis.call('HDEL', my_park, 's:' .. key, 'e:' .. key) end
  end

  local result
  if op == 'get' then
    result = {field_or_zero(cum, key), slice or '0'}
  elseif op == 'inc' then
    local new_total, new_slice = inc(key, operand, epoch or new_epoch(key), slice)
    if not new_total then return nil, key end
    result = {new_total, new_slice}
  elseif op == 'set' then
    redis.call('HSET', cum, key, operand)
    redis.call('HSET', my_inst, 's:' .. key, operand, 'e:' .. key, new_epoch(key))
    result = {operand, operand}
  elseif op == 'set_on_instance' then
    slice = slice or '0'
    if uncounted then slice = '0' end  -- nothing of it to take out of the cumulative
    if slice ~= '0' and not add_to_field(cum, key, negate(slice)) then return nil, key end
    local new_total = add_to_field(cum, key, operand)
    if not new_total then
      if slice ~= '0' then add_to_field(cum, key, slice) end
      return nil, key
    end
    redis.call('HSET', my_inst, 's:' .. key, operand, 'e:' .. key, epoch or new_epoch(key))
    result = {new_total, operand}
  elseif op == 'del' then
    result = {field_or_zero(cum, key), slice or '0'}
    redis.call('HDEL', cum, key)
    redis.call('HDEL', epochs, key)
    redis.call('HDEL', my_inst, 's:' .. key, 'e:' .. key)
  elseif op == 'del_on_instance' then
    slice = slice or '0'
    local total = field_or_zero(cum, key)
    if slice ~= '0' and not uncounted then
      total = add_to_field(cum, key, negate(slice))
      if not total then return nil, key end  -- the others' sum is beyond int64
    end
    redis.call('HDEL', my_inst, 's:' .. key, 'e:' .. key)
    result = {total, slice}
  else
    return error('unknown instance-aware operation ' .. tostring(op))
  end
  if before then return {result[1], result[2], before[1], before[2], 1} end
  return result
end

if op == 'all' then
  -- A batch: ARGV[7] the op of every item, then the items (key; key,
  -- operand; or key, operand, comparison, its operand), applied in order
  -- (a key given twice, twice). Reply: each item's, flat. All or nothing:
  -- if an item would overflow (or fails), what the items before it wrote
  -- is put back as it was (an epoch handed out stays used) and the call
  -- fails.
  local each = ARGV[7]
  local stride = (each == 'get' and 1) or (string.sub(each, -3) == '_if' and 4) or 2
  if (#ARGV - 7) / stride > 100 then return redis.error_reply('ERR a batch has at most 100 items') end
  local keys, known = {}, {}
  for at = 8, #ARGV, stride do
    if not known[ARGV[at]] then
      known[ARGV[at]] = true
      keys[#keys + 1] = ARGV[at]
    end
  end
  -- Parked slices come back first: what the undo keeps is then only what
  -- the items change.
  pending = redis.call('HEXISTS', my_inst, 'p') == 1
  if pending then for _, k in ipairs(keys) do tools().unpark(k) end end
  local saved = {}
  if each ~= 'get' and #keys > 0 then
    local fields = {}
    for _, k in ipairs(keys) do
      fields[#fields + 1] = 's:' .. k
      fields[#fields + 1] = 'e:' .. k
    end
    saved = {{cum, keys, redis.call('HMGET', cum, unpack(keys))},
             {epochs, keys, redis.call('HMGET', epochs, unpack(keys))},
             {my_inst, fields, redis.call('HMGET', my_inst, unpack(fields))},
             {my_park, fields, redis.call('HMGET', my_park, unpack(fields))}}
  end
  local out = {}
  for at = 8, #ARGV, stride do
    local ok, result, overflowed = pcall(apply, each, ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3])
    if not ok or not result then
      for _, s in ipairs(saved) do
        for j, field in ipairs(s[2]) do
          if s[3][j] then redis.call('HSET', s[1], field, s[3][j]) else redis.call('HDEL', s[1], field) end
        end
      end
      if not ok then return error(result, 0) end
      return overflow_error(overflowed)
    end
    for _, v in ipairs(result) do out[#out + 1] = v end
  end
  if pending then tools().step_mine() end
  return reply(status, out)
end

-- One op: ARGV[7] key, ARGV[8] operand, ARGV[9..10] comparison and its operand.
local result, overflowed = apply(op, ARGV[7], ARGV[8], ARGV[9], ARGV[10])
if not result then return overflow_error(overflowed) end  -- nothing else moves either
if pending then tools().step_mine() end
return reply(status, result)
