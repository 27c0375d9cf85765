-- Sets one node's subscriber count of a channel, says whether the channel's count over every
-- node went from 0 to more or back, and numbers what happened in the channel's sequence:
-- atomic per channel, so each change is seen once and numbers from every node are in order.
--
-- KEYS[1] occupancy (HASH nodeId -> count)   KEYS[2] sequence (STRING), in the channel's slot
-- ARGV[1] nodeId   ARGV[2] count (0 removes the node's entry)
-- ARGV[3] 1: this is a subscribe or unsubscribe (a turn) and takes a number; 0: a report
-- ARGV[4] how long (ms) the sequence is kept after the channel was vacated
-- Returns {total before, total after, the turn's number or 0, the crossing's number or 0}.

local before = 0
for _, count in ipairs(redis.call('HVALS', KEYS[1])) do before = before + tonumber(count) end
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local count = tonumber(ARGV[2])
if count > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], count)
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
local after = before - old + count
local crossed = (before == 0) ~= (after == 0)
local turn = ARGV[3] == '1'
if not crossed and not turn then return {before, after, 0, 0} end

-- A new run (first use, or the sequence expired) starts from the clock in microseconds: above
-- every number the channel was given before, unless it saw a million events a second.
local function take()
  local n = redis.call('INCR', KEYS[2])
  if n == 1 then
    local now = redis.call('TIME')
    n = tonumber(now[1]) * 1000000 + tonumber(now[2])
    redis.call('SET', KEYS[2], string.format('%.0f', n))
  end
  return n
end

local seq, edge = 0, 0
if crossed and after > 0 then edge = take() end
if turn then seq = take() end
if crossed and after == 0 then edge = take() end
-- Kept while the channel is occupied, so that one run has no gaps from occupied to vacated.
if after > 0 then redis.call('PERSIST', KEYS[2]) else redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
return {before, after, seq, edge}
