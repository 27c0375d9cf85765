-- Prunes expired presence entries (see presence-join.lua), then returns the live ones.
--
-- KEYS[1] entries (HASH)   KEYS[2] expiries (ZSET)
-- Returns the info JSON of every live entry.

local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)

local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now_ms)
-- In batches: unpack() of thousands of arguments would overflow Lua's stack.
for i = 1, #expired, 500 do
  redis.call('HDEL', KEYS[1], unpack(expired, i, math.min(i + 499, #expired)))
end
if #expired > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms) end
return redis.call('HVALS', KEYS[1])
