import { readConversationLua } from './conversation-fields';

/**
 * The Lua scripts of the Redis store. ioredis' `defineCommand` runs them with
 * EVALSHA (falling back to EVAL once per connection), so the script text is
 * not re-sent on every call.
 */

/**
 * The append steps below read their inputs from these Lua locals, bound by
 * each script's prologue: from KEYS/ARGV (APPEND_MESSAGE), or partly from
 * constants written into the script (APPEND_SECURE_MESSAGE), so that a call
 * carries only what changes from one call to the next.
 */
const APPEND_LOCALS =
  'thread, conv, dedupeKey, activityAll, activityOpen, inboxKey, dedupeScope, dedupeTtl, retention, author, channel, sealed, redacted, requireOpen, authorName, conversationId, userPrefix, toInbox, presenceChannel, senderKey';

/** A duplicate answers with the message stored the first time (the conversation's record `dedupeKey` → its thread entry). */
const RETURN_IF_SEEN = `
local seen = redis.call('GET', dedupeKey)
if seen then
  local entries = redis.call('XRANGE', thread, seen, seen)
  if #entries > 0 then return {'duplicate', entries[1][1], ${readConversationLua('conv')}, unpack(entries[1][2])} end
end`;

/**
 * `dedupeScope` 'sender': a platform message stored before in ANY
 * conversation of its sender (`senderKey` holds that conversation's id) is a
 * duplicate, decided before APPEND_STATUS: a redelivery must not be stored
 * again because its conversation was closed or has expired meanwhile, or
 * because the caller chose another conversation. Found in this conversation,
 * it answers as APPEND_BODY's duplicate; elsewhere, or no longer readable
 * here (expired), {'seen', '', {}, that conversation's id}.
 */
const APPEND_SEEN_BY_SENDER = `
if dedupeScope == 'sender' then
  local first = redis.call('GET', senderKey)
  if first then
    if first == conversationId then ${RETURN_IF_SEEN} end
    return {'seen', '', {}, first}
  end
end
`;

/** The conversation exists (and is open when asked). */
const APPEND_STATUS = `
local status = redis.call('HGET', conv, 'status')
if not status then return {'missing', '', {}} end
if requireOpen == '1' and status ~= 'open' then return {'closed', '', {}} end
`;

/**
 * Dedupe within the conversation, append, activity, inbox. The conversation's
 * own record (`dedupeKey`) is checked in either scope: with 'sender' it still
 * catches a platform message stored before the sender-wide record existed.
 */
const APPEND_BODY = `
if dedupeScope ~= 'none' then ${RETURN_IF_SEEN} end
local id
if authorName ~= '' then
  id = redis.call('XADD', thread, '*', 'a', author, 'ch', channel, 't', sealed, 'r', redacted, 'n', authorName)
else
  id = redis.call('XADD', thread, '*', 'a', author, 'ch', channel, 't', sealed, 'r', redacted)
end
local ttl = tonumber(retention)
if dedupeScope ~= 'none' then redis.call('SET', dedupeKey, id, 'EX', tonumber(dedupeTtl)) end
if dedupeScope == 'sender' then redis.call('SET', senderKey, conversationId, 'EX', tonumber(dedupeTtl)) end
local ms = string.match(id, '^(%d+)')
local member = string.rep('0', 15 - #ms) .. ms .. '|' .. conversationId
local previous = redis.call('HGET', conv, 'activityMember')
if previous then
  if previous > member then member = previous end
  redis.call('ZREM', activityAll, previous)
  redis.call('ZREM', activityOpen, previous)
end
redis.call('ZADD', activityAll, 0, member)
if status == 'open' then redis.call('ZADD', activityOpen, 0, member) end
redis.call('HSET', conv, 'activityMember', member, 'lastMessageMs', tonumber(string.match(member, '^(%d+)')))
redis.call('EXPIRE', thread, ttl)
redis.call('EXPIRE', conv, ttl)
local owner = redis.call('HMGET', conv, 'channel', 'externalUserId')
if owner[1] and owner[2] then
  local user = userPrefix .. owner[1] .. ':' .. owner[2]
  if redis.call('GET', user) == conversationId then redis.call('EXPIRE', user, ttl) end
end
if toInbox == '1' then redis.call('XADD', inboxKey, '*', 'c', conversationId, 'm', id) end
local listeners = ''
if presenceChannel ~= '' then listeners = redis.call('PUBSUB', 'SHARDNUMSUB', presenceChannel)[2] end
return {'appended', id, ${readConversationLua('conv')}, listeners}
`;

/**
 * Append + dedupe + activity + inbox, in ONE step: the ingest path's only
 * round trip (each extra round trip costs the webhook ~15% of its
 * throughput: see bench/webhook.bench.ts).
 *
 * KEYS: thread stream, conversation hash, dedupe key, activity index all,
 * activity index open, inbox stream, sender-wide dedupe key
 * (`keys.inboundConversation`; read and written only with scope 'sender').
 * ARGV: dedupeScope ('none' | 'conversation' | 'sender': APPEND_SEEN_BY_SENDER),
 * dedupeTtl, retentionTtl, author, channel, sealedText, redacted,
 * requireOpen (0|1), authorName ('' for none), conversation id,
 * user-key prefix, inbox (0|1).
 * Returns {'appended'|'duplicate'|'missing'|'closed', id, {CONVERSATION_FIELDS values (conversation-fields.ts)}[, field, value, ...]}
 * (the stored fields only for a duplicate: the caller knows what it appended;
 * after 'appended' comes APPEND_SECURE_MESSAGE's `listeners`, '' here),
 * or {'seen', '', {}, conversation id} (scope 'sender' only).
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
 * - with scope 'sender', records its conversation under `senderKey` for
 *   dedupeTtl (7 days), beside the conversation's own record.
 *
 * The global keys (indexes, inbox, user pointer, sender-wide dedupe record)
 * make this a script for one Redis primary (with replicas/Sentinel), not
 * Redis Cluster (README, "Redis").
 */
export const APPEND_MESSAGE = `
local ${APPEND_LOCALS} = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12], '', KEYS[7]
${APPEND_SEEN_BY_SENDER}${APPEND_STATUS}${APPEND_BODY}`;

/** The names APPEND_SECURE_MESSAGE writes into its text instead of receiving them on every call. */
export interface SecureAppendConstants {
  activityAll: string;
  activityOpen: string;
  userPrefix: string;
  /** `keys.session('')`: session keys are named from the session set's members. */
  sessionPrefix: string;
  retentionSeconds: number;
}

/** A Lua string literal of a key name or number (no quote or backslash can occur in them). */
function luaLiteral(value: string | number): string {
  const text = String(value);
  if (/['\\\n]/.test(text)) throw new Error(`not a plain Lua literal: ${text}`);
  return `'${text}'`;
}

/**
 * An advisor reply on the secure channel: APPEND_MESSAGE with requireOpen
 * and no inbox, but only while the channel is usable, decided in the same
 * step: the conversation is not `secure: 'locked'`, its lock key is absent,
 * and one of its sessions is live. Else nothing is stored and the reply is
 * {'not_secure', '', {CONVERSATION_FIELDS values}}, so the caller can take
 * the public path (and its guard rail) without another read. A reply used to
 * read the conversation, the lock key, the session set and a session before
 * appending: five commands, each with its Node CPU, garbage and syscalls; now
 * one. What does not change between calls is written into the script's text
 * (`constants`), so each call sends 13 arguments instead of 21.
 * When no session in the set is live, the set is emptied (its ids are of
 * expired sessions: SecureSessions.activeCount prunes them the same way).
 *
 * KEYS: thread stream, conversation hash, dedupe key, lock key, the
 * conversation's session set (one hash tag: all of one conversation).
 * ARGV: dedupeScope ('none' | 'conversation'), dedupeTtl, author, channel, sealedText, redacted,
 * authorName ('' for none), conversation id, presence channel ('' for none).
 * Returns as APPEND_MESSAGE, or {'not_secure', '', {CONVERSATION_FIELDS values}}.
 * With a presence channel, 'appended' is followed by its number of
 * subscribers (PUBSUB SHARDNUMSUB): the caller wants to know whether a
 * customer socket is connected on another node (chat/io.ts), and asking here
 * saves the command it would cost after the append.
 */
export function appendSecureMessageScript(constants: SecureAppendConstants): string {
  const c = constants;
  return `
local ${APPEND_LOCALS} = KEYS[1], KEYS[2], KEYS[3], ${luaLiteral(c.activityAll)}, ${luaLiteral(c.activityOpen)}, '', ARGV[1], ARGV[2], ${luaLiteral(c.retentionSeconds)}, ARGV[3], ARGV[4], ARGV[5], ARGV[6], '1', ARGV[7], ARGV[8], ${luaLiteral(c.userPrefix)}, '0', ARGV[9], ''
${APPEND_STATUS}
local function secureUsable()
  if redis.call('HGET', conv, 'secure') == 'locked' or redis.call('EXISTS', KEYS[4]) == 1 then return false end
  local ids = redis.call('SMEMBERS', KEYS[5])
  for _, sid in ipairs(ids) do
    if redis.call('EXISTS', ${luaLiteral(c.sessionPrefix)} .. sid) == 1 then return true end
  end
  if #ids > 0 then redis.call('DEL', KEYS[5]) end
  return false
end
if not secureUsable() then return {'not_secure', '', ${readConversationLua('conv')}} end
${APPEND_BODY}`;
}

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
