-- Announces a node and renews its lease, on Redis's clock so that nodes with skewed clocks
-- agree on who is alive.
--
-- KEYS[1] leases (ZSET nodeId by lease expiry ms)   KEYS[2] infos (HASH nodeId -> info JSON)
-- KEYS[3] claims (ZSET, see node-claim-lost.lua)
-- ARGV[1] nodeId   ARGV[2] info JSON   ARGV[3] lease ms
-- Returns 1 when the node was not listed (first announce, or its lease ran out and another
-- node removed it), else 0.

local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local added = redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[3]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
-- Back after it was found lost: once its claimer is done, nobody tells of it again.
redis.call('ZREM', KEYS[3], ARGV[1])
return added
