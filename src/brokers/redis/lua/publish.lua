-- Assigns a channel's next offset, appends to its history and publishes, atomically: no other
-- command on this channel's keys runs in between, so offsets rise by exactly 1 across every
-- node and every subscriber sees them in order.
--
-- KEYS[1] meta (HASH epoch, offset, ttl)    KEYS[2] stream (history; entry id = "<offset>-0")
-- ARGV[1] pub/sub channel   ARGV[2] epoch to use if the channel has none   ARGV[3] data (JSON text)
-- ARGV[4] historySize   ARGV[5] historyTtlMs (0: none)   ARGV[6] metaTtlMs
-- ARGV[7] PUBLISH or SPUBLISH (cluster)   ARGV[8] historyMinAgeMs (0: the count alone)
-- Returns { offset, epoch, time }.

local size = tonumber(ARGV[4])
local history_ttl = tonumber(ARGV[5])
local meta_ttl = math.max(tonumber(ARGV[6]), history_ttl)
local min_age = tonumber(ARGV[8] or '0')

local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  -- No meta: a new channel, an idle one whose meta expired, or Redis lost its data. A stream
  -- left without its meta belongs to the lost epoch, so it goes too: an honest new epoch.
  epoch = ARGV[2]
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', 0)
  redis.call('DEL', KEYS[2])
end
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
-- history.lua expires entries by age with the TTL of the latest publish, as the memory broker does.
redis.call('HSET', KEYS[1], 'ttl', history_ttl)
redis.call('PEXPIRE', KEYS[1], meta_ttl)

-- Redis's clock, not the node's: every node then agrees on a publication's age.
local now = redis.call('TIME')
local time = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)

-- The history window of the memory broker (memory.ts beyondWindow): the oldest entries go while
-- there are more than `size`, but none younger than `min_age`. Entries are in offset order and
-- their times never decrease, so what goes is a prefix. At steady state one or two go per
-- publish: at most 16 are read each time (entries carry their data), which still trims much
-- faster than one publish adds when a burst of old ones waits.
local function trim(youngest)
  local excess = redis.call('XLEN', KEYS[2]) - size
  if excess <= 0 then return end
  local batch = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', math.min(excess, 16))
  local keep = nil
  for _, entry in ipairs(batch) do
    if tonumber(entry[2][2]) >= youngest then
      keep = entry[1]
      break
    end
  end
  if keep == nil then
    keep = string.format('%d-0', tonumber(string.match(batch[#batch][1], '^(%d+)')) + 1)
  end
  redis.call('XTRIM', KEYS[2], 'MINID', keep)
end

if size > 0 then
  if min_age > 0 then
    redis.call('XADD', KEYS[2], string.format('%d-0', offset), 't', time, 'd', ARGV[3])
    trim(time - min_age)
  else
    redis.call('XADD', KEYS[2], 'MAXLEN', size, string.format('%d-0', offset), 't', time, 'd', ARGV[3])
  end
  -- The whole stream expires once its newest entry is older than the TTL; without a TTL it
  -- lives as long as the meta, which it could not outlive usefully anyway.
  if history_ttl > 0 then
    redis.call('PEXPIRE', KEYS[2], history_ttl)
  else
    redis.call('PEXPIRE', KEYS[2], meta_ttl)
  end
else
  redis.call('DEL', KEYS[2])
end

-- "<offset> <epoch> <time> <data>": receivers split the header off and never parse the data.
redis.call(ARGV[7], ARGV[1], string.format('%d %s %d ', offset, epoch, time) .. ARGV[3])
return { offset, epoch, time }
