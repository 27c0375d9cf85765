-- Adds or refreshes a presence entry that expires on its own: the HASH holds the entries, the
-- ZSET their expiry times, so that a crashed node's clients vanish without anyone leaving.
--
-- KEYS[1] entries (HASH clientId -> info JSON)   KEYS[2] expiries (ZSET clientId by expiry ms)
-- ARGV[1] clientId   ARGV[2] info JSON   ARGV[3] ttlMs

local ttl = tonumber(ARGV[3])
local now = redis.call('TIME')
local expires_at = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + ttl

redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], expires_at, ARGV[1])
-- The keys outlive their longest-lived entry, and vanish with the last one.
local key_ttl = math.max(ttl, redis.call('PTTL', KEYS[2]))
redis.call('PEXPIRE', KEYS[1], key_ttl)
redis.call('PEXPIRE', KEYS[2], key_ttl)
return 1
