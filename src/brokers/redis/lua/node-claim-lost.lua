-- Removes every node whose lease ran out and returns them, so that exactly one caller learns
-- of each lost node.
--
-- KEYS[1] leases (ZSET)   KEYS[2] infos (HASH)
-- Returns a flat list: nodeId, info JSON (or false), ...

local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local lost = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms, 'LIMIT', 0, 100)
local out = {}
for _, id in ipairs(lost) do
  redis.call('ZREM', KEYS[1], id)
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[2], id)
  redis.call('HDEL', KEYS[2], id)
end
return out
