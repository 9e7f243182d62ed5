"""The Lua scripts of the shared state (`shared.py`): each one runs atomically in Redis."""

# KEYS: lock, log, snapshot_at, seq. ARGV: token, lock ms, the log position after which to
# read.
ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, redis.call('XRANGE', KEYS[2], ARGV[3], '+'), redis.call('GET', KEYS[3]),
          redis.call('GET', KEYS[4]), redis.call('XLEN', KEYS[2])}
end
return {0}
"""

# KEYS: lock, snapshot, snapshot_at, log. ARGV: token, the state, "position seq threshold".
SNAPSHOT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[3], ARGV[3])
local position = string.match(ARGV[3], '^(%S+)')
redis.call('XTRIM', KEYS[4], 'MINID', position)
return 1
"""

# KEYS: snapshot, snapshot_at.
LOAD = """
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])}
"""

# KEYS: log, faults, snapshot_at, seq. ARGV: the log position after which to read.
READ = """
return {redis.call('XRANGE', KEYS[1], ARGV[1], '+'), redis.call('GET', KEYS[2]),
        redis.call('GET', KEYS[3]), redis.call('GET', KEYS[4])}
"""

# KEYS: lock, seq, log, owners, snapshot, snapshot_at. ARGV: token, seq expected, process,
# unit, 1 when the unit forgets everything, how many deliveries it owns, their ids, then the
# ids it no longer owns.
# Releases the lock: a unit is the last thing done under it.
COMMIT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0, 'the lock was lost'} end
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
if seq ~= tonumber(ARGV[2]) then return {0, 'another process committed out of turn'} end
seq = seq + 1
redis.call('SET', KEYS[2], seq)
local id = redis.call('XADD', KEYS[3], '*', 'k', 'c', 's', seq, 'o', ARGV[3], 'r', ARGV[5],
                       'd', ARGV[4])
if ARGV[5] == '1' then
  redis.call('XTRIM', KEYS[3], 'MINID', id)
  redis.call('DEL', KEYS[4], KEYS[5], KEYS[6])
end
local owned = tonumber(ARGV[6])
for i = 7, 6 + owned do redis.call('HSET', KEYS[4], ARGV[i], ARGV[3]) end
for i = 7 + owned, #ARGV do redis.call('HDEL', KEYS[4], ARGV[i]) end
redis.call('DEL', KEYS[1])
return {1, id}
"""

# KEYS: lock. ARGV: token.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: log, owners. ARGV: process, delivery id, delivery, 1 when it has ended.
ATTEMPT = """
redis.call('XADD', KEYS[1], '*', 'k', 'd', 'o', ARGV[1], 'd', ARGV[3])
if ARGV[4] == '1' then redis.call('HDEL', KEYS[2], ARGV[2]) end
return 1
"""

# KEYS: owners. ARGV: process, the prefix of the lease keys, the lease in ms, then the owners
# found without a lease at the last look. Renews this process's lease first; claims the
# callbacks of owners without a lease now and at the last look (one look alone may follow a
# pause of Redis itself, after which every lease has run out at once); returns them, and the
# owners without a lease now.
TAKE_ORPHANS = """
redis.call('SET', ARGV[2] .. ARGV[1], 1, 'PX', ARGV[3])
local suspects = {}
for i = 4, #ARGV do suspects[ARGV[i]] = true end
local claimed = {}
local dead = {}
local alive = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local owner = all[i + 1]
  if owner ~= ARGV[1] then
    local live = alive[owner]
    if live == nil then
      live = redis.call('EXISTS', ARGV[2] .. owner) == 1
      alive[owner] = live
      if not live then table.insert(dead, owner) end
    end
    if not live and suspects[owner] then
      redis.call('HSET', KEYS[1], all[i], ARGV[1])
      table.insert(claimed, all[i])
    end
  end
end
return {claimed, dead}
"""

# KEYS: faults.
TAKE_FAULT = """
local left = tonumber(redis.call('GET', KEYS[1]) or '0')
if left <= 0 then return 0 end
redis.call('DECR', KEYS[1])
return 1
"""
