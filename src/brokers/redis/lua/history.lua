-- Reads a channel's position and history in one step, so that `top`, `earliest` and the
-- entries describe the same moment. Writes too: it drops entries older than the channel's TTL
-- and fixes an epoch for a channel that has none, which the first publish then keeps.
--
-- KEYS[1] meta   KEYS[2] stream
-- ARGV[1] epoch to use if the channel has none   ARGV[2] metaTtlMs
-- ARGV[3] since epoch ('' when the query has no `since`)   ARGV[4] since offset
-- ARGV[5] limit (-1: all held)
-- Returns { epoch, top offset, earliest offset, entries, newest_first (1 or 0) }.

local meta_ttl = tonumber(ARGV[2])
local limit = tonumber(ARGV[5])

local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'offset', 0)
  redis.call('PEXPIRE', KEYS[1], meta_ttl)
  -- A stream without its meta belongs to a lost epoch (see publish.lua).
  redis.call('DEL', KEYS[2])
  return { ARGV[1], 0, 1, {}, 0 }
end
local top = tonumber(redis.call('HGET', KEYS[1], 'offset'))
local history_ttl = tonumber(redis.call('HGET', KEYS[1], 'ttl') or '0')
-- Readers keep a channel's epoch alive: a quiet channel with subscribers stays resumable.
redis.call('PEXPIRE', KEYS[1], math.max(meta_ttl, history_ttl))

-- Entries are in offset order and their times never decrease, so the expired ones are a prefix.
local function drop_expired(oldest)
  local start = '-'
  while true do
    local batch = redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', 100)
    if #batch == 0 then
      redis.call('DEL', KEYS[2])
      return
    end
    for i, entry in ipairs(batch) do
      if tonumber(entry[2][2]) >= oldest then
        if start ~= '-' or i > 1 then redis.call('XTRIM', KEYS[2], 'MINID', entry[1]) end
        return
      end
    end
    start = '(' .. batch[#batch][1]
  end
end

if history_ttl > 0 then
  local now = redis.call('TIME')
  drop_expired(tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - history_ttl)
end

local earliest = top + 1
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
if first[1] then earliest = tonumber(string.match(first[1][1], '^(%d+)')) end

local entries = {}
local newest_first = 0
if limit ~= 0 then
  local count = {}
  if limit > 0 then count = { 'COUNT', limit } end
  if ARGV[3] ~= '' then
    -- A position of another epoch says nothing about this one: everything held is new to it.
    local after = 0
    if ARGV[3] == epoch then after = tonumber(ARGV[4]) end
    entries = redis.call('XRANGE', KEYS[2], string.format('%d', after + 1), '+', unpack(count))
  elseif limit > 0 then
    entries = redis.call('XREVRANGE', KEYS[2], '+', '-', unpack(count))
    newest_first = 1
  else
    entries = redis.call('XRANGE', KEYS[2], '-', '+')
  end
end
return { epoch, top, earliest, entries, newest_first }
