import { createHash } from 'node:crypto';

/**
 * Every store key name, in one place. All keys of one conversation share the
 * hash tag `{c:<id>}`. (The append script also moves global keys, the
 * activity index, the inbox and the sender-wide `pg:inbound:` record, so the
 * store wants one Redis primary, not Redis Cluster: README, "Redis".) The
 * prefix `pg:` keeps the gateway's keys apart in a shared Redis.
 *
 * | key                               | type   | holds                                       |
 * |-----------------------------------|--------|---------------------------------------------|
 * | pg:{c:ID}:conv                    | hash   | the conversation                            |
 * | pg:{c:ID}:thread                  | stream | messages (text encrypted)                   |
 * | pg:{c:ID}:delivery                | hash   | message id -> delivery status JSON          |
 * | pg:{c:ID}:dedupe:KEY              | string | message id of a platform/client message id  |
 * | pg:inbound:DIGEST                 | string | conversation of a platform message (7 days) |
 * | pg:{c:ID}:audit                   | stream | security events                             |
 * | pg:{c:ID}:pivot:JTI               | string | pivot ledger record                         |
 * | pg:{c:ID}:pivot:current           | string | jti of the newest unredeemed pivot          |
 * | pg:{c:ID}:sessions                | set    | session hashes of the conversation          |
 * | pg:{c:ID}:secure-lock             | string | present while the secure channel is locked  |
 * | pg:session:HASH                   | string | a secure session (JSON), idle TTL           |
 * | pg:session-ended:HASH             | string | conversation of a session revokeAll ended   |
 * | pg:user:CHANNEL:EXTERNAL          | string | id of the open conversation of that user    |
 * | pg:uid:EXTERNAL                   | set    | ids of every conversation of that user id   |
 * | pg:conv:active:all / :open        | zset   | activity index (lexicographic members)      |
 * | pg:inbox                          | stream | inbound messages for the bot (InboxRelay)   |
 * | pg:idem:SCOPE:KEY                 | string | idempotency record                          |
 * | pg:rl:*                           | -      | rate-limiter-flexible counters              |
 * | pg:{c:ID}:out:MSGID               | string | outbound send marker (sending:/sent:)       |
 * | pg:pmsg:PLATFORMID                | string | "convId msgId" of a sent platform message   |
 * | pg:pmsg:PLATFORMID:pending        | string | a status that arrived before the mapping    |
 * | pg:route:CHANNEL:EXTERNAL         | string | how to reply (WhatsApp: Cloud API / Twilio) |
 * | pg:sandbox:EXTERNAL               | stream | the sandbox phone's inbox (sealed)          |
 * | pg:{jobs}:*                       | -      | BullMQ queues (one hash tag for Cluster)    |
 * | pg:{c:ID}:nudge                   | string | a content-free nudge was sent (cooldown)    |
 * | pg:sio*                           | -      | Socket.IO adapter pub/sub channels          |
 * | pg:stepup:STATE                   | string | a pending IdP step-up (single use, 10 min)  |
 * | pg:stepup-note:SESSION            | string | why the last step-up of a session failed    |
 * | pg:stepup-na:SESSION              | string | advisors were told step-up is unavailable   |
 * | pg:consent:SESSION                | string | the consent a session was asked for         |
 * | pg:idlink:CHANNEL:EXTERNAL        | string | bank customer `sub` linked to a platform id |
 * | pg:{c:ID}:bot:MSGID               | string | the bot answered this inbound message       |
 * | pg:bf:ref:EXTERNAL                | string | Bot Framework conversation reference (sealed) |
 */
export const keys = {
  conversation: (id: string) => `pg:{c:${id}}:conv`,
  thread: (id: string) => `pg:{c:${id}}:thread`,
  delivery: (id: string) => `pg:{c:${id}}:delivery`,
  dedupe: (id: string, dedupeKey: string) => `pg:{c:${id}}:dedupe:${dedupeKey}`,
  /** The `dedupe` key of an inbound platform message within its conversation. */
  inboundDedupeKey: (channel: string, platformMessageId: string) => `${channel}:${platformMessageId}`,
  /**
   * The conversation an inbound platform message was first stored in, for
   * every conversation of its sender: a redelivery after its conversation
   * closed or expired is still a duplicate. Named by a digest of (channel,
   * sender, platform id): no phone number in a key that outlives a short
   * THREAD_RETENTION_DAYS, no ambiguity when ids contain `:` (Teams user ids
   * do), and a bounded length (128 bits: collisions are out of reach).
   */
  inboundConversation: (channel: string, externalUserId: string, platformMessageId: string) =>
    `pg:inbound:${createHash('sha256').update(JSON.stringify([channel, externalUserId, platformMessageId])).digest('base64url').slice(0, 22)}`,
  audit: (id: string) => `pg:{c:${id}}:audit`,
  pivot: (id: string, jti: string) => `pg:{c:${id}}:pivot:${jti}`,
  currentPivot: (id: string) => `pg:{c:${id}}:pivot:current`,
  conversationSessions: (id: string) => `pg:{c:${id}}:sessions`,
  /** Written before `secure: 'locked'` and read after every write of `secure`: the lock's source of truth. */
  secureLock: (id: string) => `pg:{c:${id}}:secure-lock`,
  session: (hash: string) => `pg:session:${hash}`,
  /** conversation id of a session that revokeAll ended (lock, lost device), kept for its idle lifetime. */
  endedSession: (hash: string) => `pg:session-ended:${hash}`,
  userConversation: (channel: string, externalUserId: string) => `pg:user:${channel}:${externalUserId}`,
  /** `userConversation` without its suffix, for the append script that builds the name from the conversation hash. */
  userConversationPrefix: 'pg:user:',
  /** New inbound messages waiting for InboxRelay to hand them to the bot's job queue. */
  inbox: 'pg:inbox',
  userConversations: (externalUserId: string) => `pg:uid:${externalUserId}`,
  activity: (status: 'all' | 'open') => `pg:conv:active:${status}`,
  idempotency: (scope: string, key: string) => `pg:idem:${scope}:${key}`,
  rateLimitPrefix: 'pg:rl',
  outboundMarker: (conversationId: string, messageId: string) => `pg:{c:${conversationId}}:out:${messageId}`,
  platformMessage: (platformMessageId: string) => `pg:pmsg:${platformMessageId}`,
  pendingStatus: (platformMessageId: string) => `pg:pmsg:${platformMessageId}:pending`,
  replyRoute: (channel: string, externalUserId: string) => `pg:route:${channel}:${externalUserId}`,
  sandboxInbox: (externalUserId: string) => `pg:sandbox:${externalUserId}`,
  jobsPrefix: 'pg:{jobs}',
  nudge: (conversationId: string) => `pg:{c:${conversationId}}:nudge`,
  socketAdapterPrefix: 'pg:sio',
  stepUpState: (state: string) => `pg:stepup:${state}`,
  stepUpNote: (sessionId: string) => `pg:stepup-note:${sessionId}`,
  stepUpUnavailable: (sessionId: string) => `pg:stepup-na:${sessionId}`,
  consentRequest: (sessionId: string) => `pg:consent:${sessionId}`,
  identityLink: (channel: string, externalUserId: string) => `pg:idlink:${channel}:${externalUserId}`,
  /** Set once the bot's `inbound` job answered a message: a redelivered job does not answer twice. */
  botAnswered: (conversationId: string, messageId: string) => `pg:{c:${conversationId}}:bot:${messageId}`,
  /** How to reach a Bot Framework user proactively (serviceUrl, conversation, bot), from their latest message. */
  botFrameworkReference: (externalUserId: string) => `pg:bf:ref:${externalUserId}`,
} as const;
