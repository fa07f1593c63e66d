-- Shared functions of the Redis store's scripts. KEYS[1] is the queue's base key
-- (`prefix:{queue}:`); every key a script touches starts with it, so all of a queue's keys
-- hash to one Redis Cluster slot.
local base = KEYS[1]

local function tkey(id) return base .. 't:' .. id end

-- processed/failed counters, added up by a script and written once at its end
local tally = {0, 0}
local function count(now, failed)
  tally[1] = tally[1] + 1
  if failed then tally[2] = tally[2] + 1 end
end
local function flush_counts(now)
  if tally[1] == 0 then return end
  local day = math.floor(now / 86400000)
  local p = base .. 'processed:' .. day
  redis.call('INCRBY', p, tally[1])
  redis.call('PEXPIRE', p, 7776000000)
  redis.call('INCRBY', base .. 'processed_total', tally[1])
  if tally[2] > 0 then
    local f = base .. 'failed:' .. day
    redis.call('INCRBY', f, tally[2])
    redis.call('PEXPIRE', f, 7776000000)
    redis.call('INCRBY', base .. 'failed_total', tally[2])
  end
  tally = {0, 0}
end

local function release_unique(id, u)
  if u == nil then u = redis.call('HGET', tkey(id), 'unique') end
  if u and u ~= '' and redis.call('GET', base .. 'u:' .. u) == id then
    redis.call('DEL', base .. 'u:' .. u)
  end
end

local function archive(id, text, now, amax)
  local k = tkey(id)
  redis.call('HSET', k, 'state', 'archived', 'last_err', text, 'last_failed_at', now)
  redis.call('ZADD', base .. 'archived', now, id)
  local excess = redis.call('ZCARD', base .. 'archived') - amax
  if excess > 0 then
    for _, old in ipairs(redis.call('ZRANGE', base .. 'archived', 0, excess - 1)) do
      redis.call('DEL', tkey(old))
    end
    redis.call('ZREMRANGEBYRANK', base .. 'archived', 0, excess - 1)
  end
end

-- members to remove from the active set and keys to delete, written in bulk by flush_bulk
local bulk_zrem, bulk_del = {}, {}
local function flush_bulk()
  for i = 1, #bulk_zrem, 1000 do
    redis.call('ZREM', base .. 'active', unpack(bulk_zrem, i, math.min(i + 999, #bulk_zrem)))
  end
  for i = 1, #bulk_del, 1000 do
    redis.call('DEL', unpack(bulk_del, i, math.min(i + 999, #bulk_del)))
  end
  bulk_zrem, bulk_del = {}, {}
end

-- outcome: 0 success, 1 retry, 2 archive. Returns 0 when the task was not active.
local function finish(id, outcome, text, now, rnd, bk, b1, b2, amax)
  local k = tkey(id)
  local f = redis.call('HMGET', k, 'state', 'retention', 'unique', 'retried', 'max_retry')
  if f[1] ~= 'active' then return 0 end
  if outcome == 0 then
    count(now, false)
    local ret = tonumber(f[2]) or 0
    if ret > 0 then
      redis.call('ZREM', base .. 'active', id)
      redis.call('HSET', k, 'state', 'completed', 'completed_at', now, 'result', text)
      redis.call('ZADD', base .. 'completed', now + ret, id)
    else
      release_unique(id, f[3] or '')
      bulk_zrem[#bulk_zrem + 1] = id
      bulk_del[#bulk_del + 1] = k
    end
    return 1
  end
  redis.call('ZREM', base .. 'active', id)
  count(now, true)
  local retried = tonumber(f[4]) or 0
  local maxr = tonumber(f[5]) or 0
  if outcome == 1 and retried < maxr then
    retried = retried + 1
    local delay
    if bk == 0 then
      delay = (retried * retried * retried * retried + 15 + (rnd % 30) * (retried + 1)) * 1000
    elseif bk == 1 then
      delay = b1
    else
      local s = retried - 1
      if s > 52 then s = 52 end
      delay = b1 * math.pow(2, s)
      if delay > b2 then delay = b2 end
    end
    local at = math.floor(now + delay)
    redis.call('HSET', k, 'state', 'retry', 'retried', retried, 'last_err', text, 'last_failed_at', now,
      'next_at', at)
    redis.call('ZADD', base .. 'retry', at, id)
    return 2
  end
  archive(id, text, now, amax)
  return 3
end

-- takes a task out of the index of its state (not active)
local function unindex(id, state)
  if state == 'pending' then
    redis.call('LREM', base .. 'pending', 1, id)
  elseif state == 'scheduled' or state == 'retry' or state == 'completed' or state == 'archived' then
    redis.call('ZREM', base .. state, id)
  end
end
