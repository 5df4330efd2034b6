-- The shard count of a counter family (the `shards` option), kept so that a
-- client configured with another count fails instead of using other keys.
-- KEYS[1]   {prefix}:shards   HASH  counter kind -> shard count
-- KEYS[2..] the kind's keys under the tag {prefix} in the layouts that came
--           before counts were kept: if one exists and no count is, the
--           family has 1.
-- ARGV[1] kind, ARGV[2] the caller's count. Returns the family's count.
local kept = redis.call('HGET', KEYS[1], ARGV[1])
if kept then return tonumber(kept) end
if ARGV[2] ~= '1' then
  for i = 2, #KEYS do
    if redis.call('EXISTS', KEYS[i]) == 1 then return 1 end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return tonumber(ARGV[2])
