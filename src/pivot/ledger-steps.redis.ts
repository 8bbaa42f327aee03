/**
 * The ledger's two atomic steps as Lua scripts on the RedisStore's own
 * connection (EVALSHA through ioredis' defineCommand). Each script touches
 * only keys of one conversation (hash tag `{c:<id>}`), so it stays in one
 * Redis Cluster slot, and declares every key it touches.
 *
 * The scripts know two layouts owned elsewhere, on purpose and only these:
 * the conversation hash's `channel`/`status`/`secure` fields (RedisStore) and
 * an audit entry as `XADD <key> * v <json>` (Store.appendLog, AuditTrail).
 * The ledger test suite runs against both implementations and reads the
 * results back through RedisStore and AuditTrail, so a drift shows there.
 */
import type { Redis } from 'ioredis';
import type { AuditTrail } from '../audit/audit-trail';
import { GatewayError, isGatewayError } from '../errors';
import type { Conversation, PublicChannel, SecureState } from '../messages';
import { keys } from '../store/keys';
import type { RedisStore } from '../store/redis.store';
import type { IssueStepInput, IssueStepResult, LedgerSteps, RedeemStepInput, RedeemStepResult, RevokeReason } from './ledger-steps';

/**
 * KEYS: conversation hash, lock key, new record, current pointer, previous record (or the new one when none), audit stream.
 * ARGV: jti, record JSON, ttl, expected previous jti ('' = none), revokedAt, pivot_issued entry, pivot_revoked entry, audit retention.
 * Returns {'ok', replacedJti-or-'', conversation hash...} | {'missing'} | {'closed'} | {'locked'} | {'retry', current-or-''} | {'collision'}.
 */
const ISSUE = `
local c = redis.call('HMGET', KEYS[1], 'channel', 'status', 'secure')
if not c[1] then return {'missing'} end
if c[2] == 'closed' then return {'closed'} end
if c[3] == 'locked' or redis.call('EXISTS', KEYS[2]) == 1 then return {'locked'} end
local previous = redis.call('GET', KEYS[4])
if (previous or '') ~= ARGV[4] then return {'retry', previous or ''} end
if not redis.call('SET', KEYS[3], ARGV[2], 'NX', 'EX', tonumber(ARGV[3])) then return {'collision'} end
redis.call('SET', KEYS[4], ARGV[1], 'EX', tonumber(ARGV[3]))
local replaced = ''
if previous then
  local raw = redis.call('GET', KEYS[5])
  if raw then
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
if c[3] ~= 'active' then redis.call('HSET', KEYS[1], 'secure', 'invited') end
redis.call('XADD', KEYS[6], '*', 'v', ARGV[6])
redis.call('EXPIRE', KEYS[6], tonumber(ARGV[8]))
return {'ok', replaced, unpack(redis.call('HGETALL', KEYS[1]))}
`;

/**
 * KEYS: conversation hash, lock key, record, audit stream.
 * ARGV: client fingerprint, redeemedAt, audit retention, conversation id, audit entries...
 * Returns {'redeemed', before, after, conversation hash...} | {'used', '1'|'0'} | {'revoked', reason} | {'conversation'} | {'locked'} | {'unknown'}.
 */
const REDEEM = `
local c = redis.call('HMGET', KEYS[1], 'channel', 'status', 'secure')
if not c[1] or c[2] == 'closed' then return {'conversation'} end
if c[3] == 'locked' or redis.call('EXISTS', KEYS[2]) == 1 then return {'locked'} end
local raw = redis.call('GET', KEYS[3])
if not raw then return {'unknown'} end
local record = cjson.decode(raw)
if record.conversationId ~= ARGV[4] then return {'unknown'} end
if record.state == 'redeemed' then
  if record.client == ARGV[1] then return {'used', '1'} end
  return {'used', '0'}
end
if record.state == 'revoked' then return {'revoked', record.revokedReason or ''} end
if record.state ~= 'issued' then return {'unknown'} end
record.state = 'redeemed'
record.redeemedAt = ARGV[2]
record.client = ARGV[1]
local after = cjson.encode(record)
redis.call('SET', KEYS[3], after, 'KEEPTTL')
redis.call('HSET', KEYS[1], 'secure', 'active')
for i = 5, #ARGV do redis.call('XADD', KEYS[4], '*', 'v', ARGV[i]) end
redis.call('EXPIRE', KEYS[4], tonumber(ARGV[3]))
return {'redeemed', raw, after, unpack(redis.call('HGETALL', KEYS[1]))}
`;

/** KEYS: record. ARGV: expected, replacement. The undo of a redemption whose session could not be opened. */
const RESTORE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1
`;

type ScriptClient = Redis & {
  pgPivotIssue(...keysAndArgs: string[]): Promise<string[]>;
  pgPivotRedeem(...keysAndArgs: string[]): Promise<string[]>;
  pgPivotRestore(key: string, expected: string, replacement: string): Promise<number>;
};

const RETRIES = 8;

/**
 * The conversation from its hash as the script left it (HGETALL's flat
 * field/value list), read the way RedisStore reads it; absent when the hash
 * lacks a field the store always writes, and the ledger then asks the store.
 */
function conversationOf(id: string, flat: string[]): { conversation?: Conversation } {
  const hash = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) hash.set(flat[i]!, flat[i + 1]!);
  const channel = hash.get('channel');
  const createdAt = hash.get('createdAt');
  const lastMessageMs = hash.get('lastMessageMs');
  if (!channel || !createdAt) return {};
  return {
    conversation: {
      id,
      channel: channel as PublicChannel,
      externalUserId: hash.get('externalUserId') ?? '',
      status: hash.get('status') === 'closed' ? 'closed' : 'open',
      secure: (hash.get('secure') as SecureState | undefined) ?? 'none',
      lastMessageAt: lastMessageMs ? new Date(Number(lastMessageMs)).toISOString() : createdAt,
      createdAt,
    },
  };
}

function unavailable(err: unknown): GatewayError {
  return isGatewayError(err) ? err : new GatewayError('GW_ERR_STORE_UNAVAILABLE', (err as Error)?.message ?? 'redis error', { cause: err });
}

/** How many conversations' last issued pivot one process remembers (oldest dropped first). */
const GUESSES_MAX = 10_000;

export class RedisLedgerSteps implements LedgerSteps {
  private readonly client: ScriptClient;
  /** conversation id → the jti this process last made current: only a guess, checked by the issue script. */
  private readonly lastIssued = new Map<string, string>();

  private remember(conversationId: string, jti: string): void {
    this.lastIssued.delete(conversationId);
    this.lastIssued.set(conversationId, jti);
    if (this.lastIssued.size > GUESSES_MAX) this.lastIssued.delete(this.lastIssued.keys().next().value!);
  }

  constructor(
    store: RedisStore,
    private readonly audit: AuditTrail,
  ) {
    const client = store.redis as ScriptClient;
    // One definition per connection, however many ledgers share the store.
    if (typeof client.pgPivotIssue !== 'function') {
      client.defineCommand('pgPivotIssue', { numberOfKeys: 6, lua: ISSUE });
      client.defineCommand('pgPivotRedeem', { numberOfKeys: 4, lua: REDEEM });
      client.defineCommand('pgPivotRestore', { numberOfKeys: 1, lua: RESTORE });
    }
    this.client = client;
  }

  async issue(input: IssueStepInput): Promise<IssueStepResult> {
    const { conversationId: id, jti } = input;
    const recordKey = keys.pivot(id, jti);
    const issued = this.audit.encode(input.audit);
    try {
      // The previous record's key must be declared to the script, so the
      // current pointer is guessed: the pivot this process last issued for the
      // conversation, else none. The script checks the guess and on a miss
      // answers the actual pointer, used for the next attempt (one more round
      // trip, only then).
      let previous = this.lastIssued.get(id) ?? '';
      for (let attempt = 0; attempt < RETRIES; attempt++) {
        const revoked = previous ? this.audit.encode({ type: 'pivot_revoked', pivotId: previous, reason: 'superseded' satisfies RevokeReason, actor: { ...input.actor } }) : '';
        const [kind, replaced, ...hash] = await this.client.pgPivotIssue(
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
        if (kind === 'retry') {
          previous = replaced ?? '';
          continue;
        }
        if (kind === 'collision') throw new GatewayError('GW_ERR_INTERNAL', 'jti collision');
        if (kind === 'ok') {
          this.remember(id, jti);
          return { kind: 'ok', ...(replaced ? { replaced } : {}), ...conversationOf(id, hash) };
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
    const { conversationId: id, jti } = input;
    const recordKey = keys.pivot(id, jti);
    let reply: string[];
    try {
      reply = await this.client.pgPivotRedeem(
        keys.conversation(id),
        keys.secureLock(id),
        recordKey,
        keys.audit(id),
        input.fingerprint,
        input.at,
        String(this.audit.retentionSeconds),
        id,
        ...input.audit.map((entry) => this.audit.encode(entry)),
      );
    } catch (err) {
      throw unavailable(err);
    }
    const [kind, first = '', second = '', ...hash] = reply;
    switch (kind) {
      case 'redeemed':
        return {
          kind: 'redeemed',
          ...conversationOf(id, hash),
          undo: async () => {
            await this.client.pgPivotRestore(recordKey, second, first).catch((err: unknown) => Promise.reject(unavailable(err)));
          },
        };
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
