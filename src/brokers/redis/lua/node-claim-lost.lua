-- Claims every node whose lease ran out and returns them, so that exactly one caller at a time
-- learns of each lost node. A claim is itself a lease: the claimer removes it once it has told
-- of the node and removed its counts (node-claim-done), and a claim that runs out (its claimer
-- died on the way) is handed to the next caller, so no lost node goes untold.
--
-- KEYS[1] leases (ZSET)   KEYS[2] infos (HASH)   KEYS[3] claims (ZSET nodeId by claim expiry ms)
-- ARGV[1] claim ms
-- Returns a flat list: nodeId, info JSON (or false), ...

local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local out = {}
local function claim(id)
  redis.call('ZADD', KEYS[3], now_ms + tonumber(ARGV[1]), id)
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[2], id)
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now_ms, 'LIMIT', 0, 100)) do
  claim(id)
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms, 'LIMIT', 0, 100)) do
  redis.call('ZREM', KEYS[1], id)
  claim(id)
end
return out
