/**
 * The ledger's two atomic steps as Lua scripts on the RedisStore's own
 * connection (EVALSHA through ioredis' defineCommand). Each script declares
 * every key it touches: the issue script only keys of one conversation (hash
 * tag `{c:<id>}`); the redeem script also the two failure counters and the
 * new session's key, which are global keys (the store runs on one Redis
 * primary, README "Running several nodes"; a Cluster deployment would need
 * these split out of the script).
 *
 * The scripts know four layouts owned elsewhere, on purpose and only these:
 * the conversation hash's fields (RedisStore), an audit entry as
 * `XADD <key> * v <json>` (Store.appendLog, AuditTrail), a session as a JSON
 * string with its idle TTL plus its id in the conversation's session set
 * (SecureSessions), and a failure counter as an integer string with the
 * window as TTL (RateLimits, rate-limiter-flexible). The ledger test suite
 * runs against both implementations and reads the results back through
 * RedisStore, AuditTrail, SecureSessions and RateLimits, so a drift shows there.
 *
 * A redemption is one round trip: the script stores the session itself, only
 * when it redeems, atomically with the lock check (no session can outlive a
 * lock, and a refused attempt stores nothing).
 */
import type { Redis } from 'ioredis';
import type { AuditTrail } from '../audit/audit-trail';
import type { RateLimits } from '../ops/rate-limits';
import { GatewayError } from '../errors';
import { keys } from '../store/keys';
import { conversationFromFields, readConversationLua } from '../store/conversation-fields';
import { type RedisStore, unavailable } from '../store/redis.store';
import type { IssueStepInput, IssueStepResult, LedgerSteps, RedeemStepInput, RedeemStepResult, RevokeReason } from './ledger-steps';

/** Both scripts read the conversation first and answer with it (CONVERSATION_FIELDS order, store/conversation-fields.ts). */
const READ_CONVERSATION = readConversationLua('KEYS[1]');

/**
 * KEYS: conversation hash, lock key, new record, current pointer, previous record (or the new one when none), audit stream.
 * ARGV: jti, record JSON, ttl, expected previous jti ('' = none), revokedAt, pivot_issued entry,
 *   pivot_revoked entry ('' when the caller knows the previous pivot was redeemed: then it is not read at all), audit retention.
 * Returns {'ok', replacedJti-or-'', conversation fields (CONVERSATION_FIELDS order)...} | {'missing'} | {'closed'} | {'locked'} | {'retry', current-or-''} | {'collision'}.
 */
const ISSUE = `
local c = ${READ_CONVERSATION}
if not c[1] then return {'missing'} end
if c[2] == 'closed' then return {'closed'} end
if c[3] == 'locked' or redis.call('EXISTS', KEYS[2]) == 1 then return {'locked'} end
local previous = redis.call('GET', KEYS[4])
if (previous or '') ~= ARGV[4] then return {'retry', previous or ''} end
if not redis.call('SET', KEYS[3], ARGV[2], 'NX', 'EX', ARGV[3]) then return {'collision'} end
redis.call('SET', KEYS[4], ARGV[1], 'EX', ARGV[3])
local replaced = ''
if previous and ARGV[7] ~= '' then
  local raw = redis.call('GET', KEYS[5])
  -- A plain find first: inside a JSON string every quote is escaped, so only the record's own state can match,
  -- and a redeemed or revoked previous pivot (the usual case) costs no decoding.
  if raw and string.find(raw, '"state":"issued"', 1, true) then
    local record = cjson.decode(raw)
    if record.state == 'issued' then
      record.state = 'revoked'
      record.revokedAt = ARGV[5]
      record.revokedReason = 'superseded'
      redis.call('SET', KEYS[5], cjson.encode(record), 'KEEPTTL')
      redis.call('XADD', KEYS[6], '*', 'v', ARGV[7])
      replaced = previous
    end
  end
end
if c[3] ~= 'active' then
  redis.call('HSET', KEYS[1], 'secure', 'invited')
  c[3] = 'invited'
end
redis.call('XADD', KEYS[6], '*', 'v', ARGV[6])
redis.call('EXPIRE', KEYS[6], ARGV[8])
return {'ok', replaced, unpack(c)}
`;

/**
 * KEYS: conversation hash, lock key, record, audit stream, session set, conversation failure counter, client network failure counter, session.
 * ARGV: client fingerprint, redeemedAt, audit retention, conversation id, session id, session set TTL, conversation failure limit,
 *   client failure limit, session JSON, session TTL, audit entries...
 * Returns {'redeemed', conversation fields (CONVERSATION_FIELDS order)...} | {'rate_limited', ms left} | {'used', '1'|'0'}
 *   | {'revoked', reason} | {'conversation'} | {'locked'} | {'unknown'}.
 * Successes never touch the failure counters, and a token that proves itself
 * (its record is `issued` for this conversation) is never refused for them:
 * they are read (the client network's, then the conversation's, in one MGET)
 * only when the attempt is refused anyway, and then `rate_limited` is the
 * answer. So whoever floods from a carrier NAT's address cannot lock the
 * customers behind it out of their own links. A locked conversation answers
 * `locked` whatever the counters say: it is not a guess (PivotLedger does not count it).
 * Counts and TTLs go to redis.call as the strings they arrived as: a Lua
 * number would be formatted back to text with printf on every call.
 */
const REDEEM = `
local function refuse(kind, detail)
  local counts = redis.call('MGET', KEYS[7], KEYS[6])
  for i = 1, 2 do
    local failures = tonumber(counts[i])
    if failures and failures >= tonumber(ARGV[9 - i]) then return {'rate_limited', tostring(redis.call('PTTL', KEYS[8 - i]))} end
  end
  return {kind, detail}
end
local c = ${READ_CONVERSATION}
if not c[1] or c[2] == 'closed' then return refuse('conversation', '') end
if c[3] == 'locked' or redis.call('EXISTS', KEYS[2]) == 1 then return {'locked'} end
local raw = redis.call('GET', KEYS[3])
if not raw then return refuse('unknown', '') end
local record = cjson.decode(raw)
if record.conversationId ~= ARGV[4] then return refuse('unknown', '') end
if record.state == 'redeemed' then
  if record.client == ARGV[1] then return refuse('used', '1') end
  return refuse('used', '0')
end
if record.state == 'revoked' then return refuse('revoked', record.revokedReason or '') end
if record.state ~= 'issued' then return refuse('unknown', '') end
record.state = 'redeemed'
record.redeemedAt = ARGV[2]
record.client = ARGV[1]
redis.call('SET', KEYS[3], cjson.encode(record), 'KEEPTTL')
if c[3] ~= 'active' then
  redis.call('HSET', KEYS[1], 'secure', 'active')
  c[3] = 'active'
end
redis.call('SET', KEYS[8], ARGV[9], 'EX', ARGV[10])
redis.call('SADD', KEYS[5], ARGV[5])
redis.call('EXPIRE', KEYS[5], ARGV[6])
for i = 11, #ARGV do redis.call('XADD', KEYS[4], '*', 'v', ARGV[i]) end
redis.call('EXPIRE', KEYS[4], ARGV[3])
return {'redeemed', unpack(c)}
`;

type ScriptClient = Redis & {
  pgPivotIssue(...keysAndArgs: string[]): Promise<Array<string | null>>;
  pgPivotRedeem(...keysAndArgs: string[]): Promise<Array<string | null>>;
};

const RETRIES = 8;


/** How many conversations' last issued pivot one process remembers (oldest dropped first). */
const GUESSES_MAX = 10_000;

export class RedisLedgerSteps implements LedgerSteps {
  private readonly client: ScriptClient;
  /**
   * conversation id → the jti this process last made current: only a guess,
   * checked by the issue script. `redeemed`: this process redeemed it, so it
   * is certainly no longer `issued` (a record never goes back) and the next
   * issue neither encodes its revocation nor has the script read it.
   */
  private readonly lastIssued = new Map<string, { jti: string; redeemed: boolean }>();

  private remember(conversationId: string, jti: string): void {
    this.lastIssued.delete(conversationId);
    this.lastIssued.set(conversationId, { jti, redeemed: false });
    if (this.lastIssued.size > GUESSES_MAX) this.lastIssued.delete(this.lastIssued.keys().next().value!);
  }

  constructor(
    store: RedisStore,
    private readonly audit: AuditTrail,
    private readonly rateLimits: RateLimits,
  ) {
    const client = store.redis as ScriptClient;
    // One definition per connection, however many ledgers share the store.
    if (typeof client.pgPivotIssue !== 'function') {
      client.defineCommand('pgPivotIssue', { numberOfKeys: 6, lua: ISSUE });
      client.defineCommand('pgPivotRedeem', { numberOfKeys: 8, lua: REDEEM });
    }
    this.client = client;
  }

  async issue(input: IssueStepInput): Promise<IssueStepResult> {
    const { conversationId: id, jti } = input;
    const recordKey = keys.pivot(id, jti);
    const issued = this.audit.encode(input.audit, input.at);
    try {
      // The previous record's key must be declared to the script, so the
      // current pointer is guessed: the pivot this process last issued for the
      // conversation, else none. The script checks the guess and on a miss
      // answers the actual pointer, used for the next attempt (one more round
      // trip, only then).
      const guess = this.lastIssued.get(id);
      let previous = guess?.jti ?? '';
      let settled = guess?.redeemed === true;
      for (let attempt = 0; attempt < RETRIES; attempt++) {
        const revoked = previous && !settled ? this.audit.encode({ type: 'pivot_revoked', pivotId: previous, reason: 'superseded' satisfies RevokeReason, actor: input.actor }, input.at) : '';
        const reply = await this.client.pgPivotIssue(
          keys.conversation(id),
          keys.secureLock(id),
          recordKey,
          keys.currentPivot(id),
          previous ? keys.pivot(id, previous) : recordKey,
          keys.audit(id),
          jti,
          JSON.stringify(input.record),
          String(input.ttlSeconds),
          previous,
          input.at,
          issued,
          revoked,
          String(this.audit.retentionSeconds),
        );
        const kind = reply[0];
        const replaced = reply[1];
        if (kind === 'retry') {
          previous = replaced ?? '';
          settled = false;
          continue;
        }
        if (kind === 'collision') throw new GatewayError('GW_ERR_INTERNAL', 'jti collision');
        if (kind === 'ok') {
          this.remember(id, jti);
          const result: IssueStepResult = { kind: 'ok' };
          const conversation = conversationFromFields(id, reply, 2);
          if (conversation) result.conversation = conversation;
          if (replaced) result.replaced = replaced;
          return result;
        }
        if (kind === 'missing' || kind === 'closed' || kind === 'locked') return { kind };
        throw new GatewayError('GW_ERR_INTERNAL', `unexpected issue script reply ${String(kind)}`);
      }
    } catch (err) {
      throw unavailable(err);
    }
    throw new GatewayError('GW_ERR_STORE_UNAVAILABLE', 'current pivot kept changing');
  }

  async redeem(input: RedeemStepInput): Promise<RedeemStepResult> {
    const { conversationId: id, jti, session } = input;
    const conversationCounter = this.rateLimits.conversationCounter(id);
    const clientCounter = this.rateLimits.clientCounter(input.ip);
    const args = [
      keys.conversation(id),
      keys.secureLock(id),
      keys.pivot(id, jti),
      keys.audit(id),
      keys.conversationSessions(id),
      conversationCounter.storeKey,
      clientCounter.storeKey,
      keys.session(session.session.id),
      input.fingerprint,
      input.at,
      String(this.audit.retentionSeconds),
      id,
      session.session.id,
      String(session.setTtlSeconds),
      String(conversationCounter.points),
      String(clientCounter.points),
      session.json,
      String(session.ttlSeconds),
    ];
    for (const entry of input.audit) args.push(this.audit.encode(entry, input.at));
    let reply: Array<string | null>;
    try {
      reply = await this.client.pgPivotRedeem(...args);
    } catch (err) {
      throw unavailable(err);
    }
    const [kind, first] = reply;
    switch (kind) {
      case 'redeemed': {
        const guess = this.lastIssued.get(id);
        if (guess?.jti === jti) guess.redeemed = true;
        const conversation = conversationFromFields(id, reply, 1);
        return conversation ? { kind: 'redeemed', conversation } : { kind: 'redeemed' };
      }
      case 'rate_limited':
        return { kind: 'rate_limited', retryAfterMs: Math.max(0, Number(first) || 0) };
      case 'used':
        return { kind: 'used', sameClient: first === '1' };
      case 'revoked':
        return { kind: 'revoked', ...(first ? { reason: first as RevokeReason } : {}) };
      case 'conversation':
      case 'locked':
      case 'unknown':
        return { kind };
      default:
        throw new GatewayError('GW_ERR_INTERNAL', `unexpected redeem script reply ${String(kind)}`);
    }
  }
}
