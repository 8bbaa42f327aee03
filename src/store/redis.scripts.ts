/**
 * The Lua scripts of the Redis store. ioredis' `defineCommand` runs them with
 * EVALSHA (falling back to EVAL once per connection), so the script text is
 * not re-sent on every call.
 */

/**
 * KEYS: thread stream, conversation hash, dedupe key.
 * ARGV: useDedupe (0|1), dedupeTtl, retentionTtl, author, channel, sealedText, redacted, requireOpen (0|1), authorName ('' for none).
 * Returns {'appended'|'duplicate'|'missing'|'closed', id, {conversation hash as HGETALL}[, field, value, ...]}
 * (the stored fields only for a duplicate: the caller knows what it appended):
 * the conversation spares the caller a read before it moves the activity index
 * (and ingest the read of the conversation it appends to). 'closed' (only with
 * requireOpen) appends nothing.
 */
export const APPEND_MESSAGE = `
local status = redis.call('HGET', KEYS[2], 'status')
if not status then return {'missing', '', {}} end
if ARGV[8] == '1' and status ~= 'open' then return {'closed', '', {}} end
if ARGV[1] == '1' then
  local seen = redis.call('GET', KEYS[3])
  if seen then
    local entries = redis.call('XRANGE', KEYS[1], seen, seen)
    if #entries > 0 then return {'duplicate', entries[1][1], redis.call('HGETALL', KEYS[2]), unpack(entries[1][2])} end
  end
end
local id
if ARGV[9] ~= '' then
  id = redis.call('XADD', KEYS[1], '*', 'a', ARGV[4], 'ch', ARGV[5], 't', ARGV[6], 'r', ARGV[7], 'n', ARGV[9])
else
  id = redis.call('XADD', KEYS[1], '*', 'a', ARGV[4], 'ch', ARGV[5], 't', ARGV[6], 'r', ARGV[7])
end
if ARGV[1] == '1' then redis.call('SET', KEYS[3], id, 'EX', tonumber(ARGV[2])) end
redis.call('HSET', KEYS[2], 'lastMessageMs', tonumber(string.match(id, '^(%d+)')))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[3]))
return {'appended', id, redis.call('HGETALL', KEYS[2])}
`;

/**
 * KEYS: the key. ARGV: expected, next, ttlSeconds ('' keeps the remaining TTL).
 * Returns {1, next} on success, {0, current-or-nil} on a mismatch.
 */
export const COMPARE_AND_SET = `
local current = redis.call('GET', KEYS[1])
if current ~= ARGV[1] then return {0, current} end
if ARGV[3] == '' then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
else
  redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
end
return {1, ARGV[2]}
`;

/**
 * Moves a conversation in the activity indexes. Kept out of the append script
 * so that one stays inside the conversation's slot; this one spans the global
 * indexes and the conversation hash, which a Redis Cluster deployment would
 * have to split into two calls (noted in the README).
 * KEYS: index all, index open, conversation hash[, the user's open-conversation key].
 * ARGV: new member, status[, conversation id, retention ttl].
 * The previous member is kept in the hash so it can be removed. With the
 * fourth key (after an append), the user's pointer to this conversation lives
 * as long as the conversation does, instead of expiring from its creation.
 */
export const TOUCH_ACTIVITY = `
local previous = redis.call('HGET', KEYS[3], 'activityMember')
if previous and previous > ARGV[1] then ARGV[1] = previous end
if previous then
  redis.call('ZREM', KEYS[1], previous)
  redis.call('ZREM', KEYS[2], previous)
end
redis.call('ZADD', KEYS[1], 0, ARGV[1])
if ARGV[2] == 'open' then redis.call('ZADD', KEYS[2], 0, ARGV[1]) end
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('HSET', KEYS[3], 'activityMember', ARGV[1])
  local ms = tonumber(string.match(ARGV[1], '^(%d+)'))
  redis.call('HSET', KEYS[3], 'lastMessageMs', ms)
end
if KEYS[4] and redis.call('GET', KEYS[4]) == ARGV[3] then redis.call('EXPIRE', KEYS[4], tonumber(ARGV[4])) end
return 1
`;
