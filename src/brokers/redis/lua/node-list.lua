-- The nodes whose lease has not run out, by Redis's clock.
--
-- KEYS[1] leases (ZSET)   KEYS[2] infos (HASH)
-- Returns a flat list: nodeId, lease expiry ms, info JSON (or false), ...

local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now_ms, '+inf', 'WITHSCORES')
local out = {}
for i = 1, #live, 2 do
  out[#out + 1] = live[i]
  out[#out + 1] = live[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[2], live[i])
end
return out
