import { readConversationLua } from './conversation-fields';

/**
 * The Lua scripts of the Redis store. ioredis' `defineCommand` runs them with
 * EVALSHA (falling back to EVAL once per connection), so the script text is
 * not re-sent on every call.
 */

/**
 * Append + dedupe + activity + inbox, in ONE step: the ingest path's only
 * round trip (each extra round trip costs the webhook ~15% of its
 * throughput: see bench/webhook.bench.ts).
 *
 * KEYS: thread stream, conversation hash, dedupe key, activity index all,
 * activity index open, inbox stream.
 * ARGV: useDedupe (0|1), dedupeTtl, retentionTtl, author, channel, sealedText,
 * redacted, requireOpen (0|1), authorName ('' for none), conversation id,
 * user-key prefix, inbox (0|1).
 * Returns {'appended'|'duplicate'|'missing'|'closed', id, {CONVERSATION_FIELDS values (conversation-fields.ts)}[, field, value, ...]}
 * (the stored fields only for a duplicate: the caller knows what it appended).
 *
 * A new message also:
 * - moves the conversation in the activity indexes (members `<ms, 15 digits>|<id>`,
 *   never moving backwards; the previous member is kept in the hash to be removed);
 * - keeps the user's pointer to this conversation (`pg:user:CHANNEL:EXTERNAL`)
 *   alive as long as the conversation, instead of expiring from its creation
 *   (its name is built here from the hash, which is why it is not in KEYS);
 * - with inbox=1, records `{c, m}` in the inbox stream that InboxRelay turns
 *   into the bot's `inbound` job: stored and handed over atomically, so no
 *   crash can leave a stored message without its job. A duplicate adds nothing.
 *
 * The global keys (indexes, inbox, user pointer) make this a script for one
 * Redis primary (with replicas/Sentinel), not Redis Cluster (README, "Redis").
 */
export const APPEND_MESSAGE = `
local status = redis.call('HGET', KEYS[2], 'status')
if not status then return {'missing', '', {}} end
if ARGV[8] == '1' and status ~= 'open' then return {'closed', '', {}} end
if ARGV[1] == '1' then
  local seen = redis.call('GET', KEYS[3])
  if seen then
    local entries = redis.call('XRANGE', KEYS[1], seen, seen)
    if #entries > 0 then return {'duplicate', entries[1][1], ${readConversationLua('KEYS[2]')}, unpack(entries[1][2])} end
  end
end
local id
if ARGV[9] ~= '' then
  id = redis.call('XADD', KEYS[1], '*', 'a', ARGV[4], 'ch', ARGV[5], 't', ARGV[6], 'r', ARGV[7], 'n', ARGV[9])
else
  id = redis.call('XADD', KEYS[1], '*', 'a', ARGV[4], 'ch', ARGV[5], 't', ARGV[6], 'r', ARGV[7])
end
local ttl = tonumber(ARGV[3])
if ARGV[1] == '1' then redis.call('SET', KEYS[3], id, 'EX', tonumber(ARGV[2])) end
local ms = string.match(id, '^(%d+)')
local member = string.rep('0', 15 - #ms) .. ms .. '|' .. ARGV[10]
local previous = redis.call('HGET', KEYS[2], 'activityMember')
if previous then
  if previous > member then member = previous end
  redis.call('ZREM', KEYS[4], previous)
  redis.call('ZREM', KEYS[5], previous)
end
redis.call('ZADD', KEYS[4], 0, member)
if status == 'open' then redis.call('ZADD', KEYS[5], 0, member) end
redis.call('HSET', KEYS[2], 'activityMember', member, 'lastMessageMs', tonumber(string.match(member, '^(%d+)')))
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
local owner = redis.call('HMGET', KEYS[2], 'channel', 'externalUserId')
if owner[1] and owner[2] then
  local user = ARGV[11] .. owner[1] .. ':' .. owner[2]
  if redis.call('GET', user) == ARGV[10] then redis.call('EXPIRE', user, ttl) end
end
if ARGV[12] == '1' then redis.call('XADD', KEYS[6], '*', 'c', ARGV[10], 'm', id) end
return {'appended', id, ${readConversationLua('KEYS[2]')}}
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
 * Moves a conversation in the activity indexes when it opens or changes
 * status (an append does the same inside APPEND_MESSAGE).
 * KEYS: index all, index open, conversation hash. ARGV: new member, status.
 * The previous member is kept in the hash so it can be removed.
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
return 1
`;
