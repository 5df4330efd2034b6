-- The shard count of a counter family (the `shards` option), kept so that a
-- client configured with another count fails instead of using other keys.
-- KEYS[1] {prefix}:shards   HASH  counter kind -> shard count
-- KEYS[2] the kind's first key under the tag {prefix}: if it exists and no
--         count is kept, the family was written before counts were, with 1.
-- ARGV[1] kind, ARGV[2] the caller's count. Returns the family's count.
local kept = redis.call('HGET', KEYS[1], ARGV[1])
if kept then return tonumber(kept) end
if ARGV[2] ~= '1' and redis.call('EXISTS', KEYS[2]) == 1 then return 1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return tonumber(ARGV[2])
