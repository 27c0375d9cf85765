-- Sets one node's subscriber count of a channel and says whether the channel's count over
-- every node went from 0 to more or back: atomic per channel, so each change is seen once.
--
-- KEYS[1] occupancy (HASH nodeId -> count), in the channel's slot
-- ARGV[1] nodeId   ARGV[2] count (0 removes the node's entry)
-- Returns {total before, total after}.

local before = 0
for _, count in ipairs(redis.call('HVALS', KEYS[1])) do before = before + tonumber(count) end
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local count = tonumber(ARGV[2])
if count > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], count)
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return {before, before - old + count}
