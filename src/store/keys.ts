/**
 * Every store key name, in one place. All keys of one conversation share the
 * hash tag `{c:<id>}` so a Lua script over them stays in one Redis Cluster
 * slot. The prefix `pg:` keeps the gateway's keys apart in a shared Redis.
 *
 * | key                               | type   | holds                                       |
 * |-----------------------------------|--------|---------------------------------------------|
 * | pg:{c:ID}:conv                    | hash   | the conversation                            |
 * | pg:{c:ID}:thread                  | stream | messages (text encrypted)                   |
 * | pg:{c:ID}:delivery                | hash   | message id -> delivery status JSON          |
 * | pg:{c:ID}:dedupe:KEY              | string | message id of a platform/client message id  |
 * | pg:{c:ID}:audit                   | stream | security events                             |
 * | pg:{c:ID}:pivot:JTI               | string | pivot ledger record                         |
 * | pg:{c:ID}:pivot:current           | string | jti of the newest unredeemed pivot          |
 * | pg:{c:ID}:sessions                | set    | session hashes of the conversation          |
 * | pg:session:HASH                   | string | a secure session (JSON), idle TTL           |
 * | pg:user:CHANNEL:EXTERNAL          | string | id of the open conversation of that user    |
 * | pg:uid:EXTERNAL                   | set    | ids of every conversation of that user id   |
 * | pg:conv:active:all / :open        | zset   | activity index (lexicographic members)      |
 * | pg:idem:SCOPE:KEY                 | string | idempotency record                          |
 * | pg:rl:*                           | -      | rate-limiter-flexible counters              |
 */
export const keys = {
  conversation: (id: string) => `pg:{c:${id}}:conv`,
  thread: (id: string) => `pg:{c:${id}}:thread`,
  delivery: (id: string) => `pg:{c:${id}}:delivery`,
  dedupe: (id: string, dedupeKey: string) => `pg:{c:${id}}:dedupe:${dedupeKey}`,
  audit: (id: string) => `pg:{c:${id}}:audit`,
  pivot: (id: string, jti: string) => `pg:{c:${id}}:pivot:${jti}`,
  currentPivot: (id: string) => `pg:{c:${id}}:pivot:current`,
  conversationSessions: (id: string) => `pg:{c:${id}}:sessions`,
  session: (hash: string) => `pg:session:${hash}`,
  userConversation: (channel: string, externalUserId: string) => `pg:user:${channel}:${externalUserId}`,
  userConversations: (externalUserId: string) => `pg:uid:${externalUserId}`,
  activity: (status: 'all' | 'open') => `pg:conv:active:${status}`,
  idempotency: (scope: string, key: string) => `pg:idem:${scope}:${key}`,
  rateLimitPrefix: 'pg:rl',
} as const;
