/**
 * The two atomic steps of the pivot ledger, behind one small interface:
 * - `issue`: check the conversation (exists, open, not locked), write the new
 *   record, make it the conversation's current pivot, revoke the one it
 *   replaces, mark the conversation `invited` (unless a session is active),
 *   audit;
 * - `redeem`: check the failure limits (client network, conversation) and the conversation,
 *   then swap the record `issued` → `redeemed` exactly once, mark the
 *   conversation `active`, store the new secure session, audit.
 *
 * The Redis script stores the session atomically with the swap and the lock
 * check. The primitives write it BEFORE the swap (nobody holds its token
 * until the step succeeded; a refused step deletes it) and add it to the
 * conversation's session set only after the swap, before re-reading the
 * lock. Either way a concurrent lock either stops the step or finds the
 * session in the set, already stored, and ends it: no session outlives a lock.
 *
 * Two implementations with the same contract (test/pivot/ledger.test.ts runs
 * the ledger on both, against real Redis too):
 * - `StoreLedgerSteps` here, built on the Store's primitives only
 *   (compare-and-set on the record's exact JSON; lock re-checked after every
 *   write of `secure`): what the memory store uses;
 * - `RedisLedgerSteps` (ledger-steps.redis.ts): each step is one Lua script,
 *   which folds a dozen round trips into one (see bench/pivot.bench.ts).
 */
import type { AuditActor, AuditEntryInput, AuditTrail } from '../audit/audit-trail';
import type { PreparedSession } from '../chat/sessions';
import { GatewayError } from '../errors';
import type { Conversation, SecureState } from '../messages';
import { keys } from '../store/keys';
import type { RateLimits } from '../ops/rate-limits';
import type { Store } from '../store/store';
import type { PivotIntent, Tier } from './policy';

export type PivotState = 'issued' | 'redeemed' | 'revoked';
export type RevokeReason = 'superseded' | 'locked' | 'closed' | 'revoked';

export interface PivotIssuer {
  kind: 'advisor' | 'bot';
  id?: string;
}

/** The ledger record (JSON), under `keys.pivot(conversationId, jti)`. Never holds the token. */
export interface PivotRecord {
  v: 1;
  state: PivotState;
  conversationId: string;
  intent: PivotIntent;
  tier: Tier;
  issuedAt: string;
  expiresAt: string;
  issuedBy: PivotIssuer;
  redeemedAt?: string;
  /** SHA-256 over jti, IP and user agent of the redeeming client: enough to recognise it, not to list it. */
  client?: string;
  revokedAt?: string;
  revokedReason?: RevokeReason;
}

export interface IssueStepInput {
  conversationId: string;
  jti: string;
  record: PivotRecord;
  ttlSeconds: number;
  actor: AuditActor;
  /** ISO 8601, for `revokedAt` of a replaced pivot. */
  at: string;
  /** The `pivot_issued` entry. */
  audit: AuditEntryInput;
}

/** `conversation`: as the step left it, when the step could read it in the same atomic operation. */
export type IssueStepResult = { kind: 'ok'; replaced?: string; conversation?: Conversation } | { kind: 'missing' | 'closed' | 'locked' };

export interface RedeemStepInput {
  conversationId: string;
  jti: string;
  /** The client's address: its network's failure limit is checked first. */
  ip: string;
  fingerprint: string;
  /** ISO 8601. */
  at: string;
  /** Written with the redemption, in order (`pivot_redeemed`, `session_opened`). */
  audit: AuditEntryInput[];
  /** The secure session the redemption opens (SecureSessions.prepare). */
  session: PreparedSession;
}

export type RedeemStepResult =
  | { kind: 'redeemed'; conversation?: Conversation }
  | { kind: 'rate_limited'; retryAfterMs: number }
  | { kind: 'conversation' }
  | { kind: 'locked' }
  | { kind: 'unknown' }
  | { kind: 'used'; sameClient: boolean }
  | { kind: 'revoked'; reason?: RevokeReason };

export interface LedgerSteps {
  issue(input: IssueStepInput): Promise<IssueStepResult>;
  redeem(input: RedeemStepInput): Promise<RedeemStepResult>;
}

const CAS_ATTEMPTS = 8;

/** Store-primitive implementation; also provides the rarer operations (revoke, lock checks) to the ledger on every store. */
export class StoreLedgerSteps implements LedgerSteps {
  constructor(
    private readonly store: Store,
    private readonly audit: AuditTrail,
    private readonly rateLimits: RateLimits,
  ) {}

  async issue(input: IssueStepInput): Promise<IssueStepResult> {
    const { conversationId, jti } = input;
    const conversation = await this.store.getConversation(conversationId);
    if (!conversation) return { kind: 'missing' };
    if (conversation.status === 'closed') return { kind: 'closed' };
    if (await this.isLocked(conversation)) return { kind: 'locked' };

    if (!(await this.store.setIfAbsent(keys.pivot(conversationId, jti), JSON.stringify(input.record), input.ttlSeconds))) {
      throw new GatewayError('GW_ERR_INTERNAL', 'jti collision'); // 128 random bits: only a broken RNG gets here
    }
    const previous = await this.becomeCurrent(conversationId, jti, input.ttlSeconds);
    const replaced = previous !== undefined && (await this.revoke(conversationId, previous, 'superseded', input.at, input.actor)) ? previous : undefined;

    const settled = conversation.secure === 'active' ? ((await this.isLocked(conversationId)) ? undefined : conversation) : await this.settleSecure(conversationId, 'invited');
    if (!settled) {
      await this.revoke(conversationId, jti, 'locked', input.at);
      return { kind: 'locked' };
    }
    await this.audit.record(conversationId, input.audit);
    return { kind: 'ok', conversation: settled, ...(replaced ? { replaced } : {}) };
  }

  async redeem(input: RedeemStepInput): Promise<RedeemStepResult> {
    const { conversationId } = input;
    const conversation = await this.store.getConversation(conversationId);
    if (!conversation || conversation.status === 'closed') return this.refuse(input, { kind: 'conversation' });
    if (await this.isLocked(conversation)) return { kind: 'locked' };

    const { session } = input;
    const sessionKey = keys.session(session.session.id);
    await this.store.set(sessionKey, session.json, session.ttlSeconds);
    const result = await this.swap(input);
    if (result.kind === 'redeemed') return result;
    await this.store.delete(sessionKey);
    return result.kind === 'locked' ? result : this.refuse(input, result);
  }

  /** A refusal, unless the failure limits answer first (the Lua step's rule: a token that proves itself never meets them). */
  private async refuse(input: RedeemStepInput, refusal: RedeemStepResult): Promise<RedeemStepResult> {
    const limits = await Promise.all([this.rateLimits.clientDecision(input.ip), this.rateLimits.conversationDecision(input.conversationId)]);
    const limited = limits.find((decision) => !decision.allowed);
    return limited ? { kind: 'rate_limited', retryAfterMs: limited.retryAfterMs } : refusal;
  }

  /** The compare-and-set of the record, then the session's set membership, the secure state (re-reading the lock) and the audit. */
  private async swap(input: RedeemStepInput): Promise<RedeemStepResult> {
    const { conversationId, jti, session } = input;
    const key = keys.pivot(conversationId, jti);
    let raw = await this.store.get(key);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      if (raw === undefined) return { kind: 'unknown' };
      const record = JSON.parse(raw) as PivotRecord;
      if (record.conversationId !== conversationId) return { kind: 'unknown' };
      if (record.state === 'redeemed') return { kind: 'used', sameClient: record.client === input.fingerprint };
      if (record.state === 'revoked') return { kind: 'revoked', ...(record.revokedReason ? { reason: record.revokedReason } : {}) };
      const swapped = await this.store.compareAndSet(key, raw, JSON.stringify({ ...record, state: 'redeemed', redeemedAt: input.at, client: input.fingerprint } satisfies PivotRecord)); // keeps the record's TTL: it dies with the token
      if (swapped.ok) {
        // Into the set before the lock is re-read: a lock that read the set earlier wrote its key earlier still.
        const setKey = keys.conversationSessions(conversationId);
        await this.store.addToSet(setKey, session.session.id, session.setTtlSeconds);
        const settled = await this.settleSecure(conversationId, 'active');
        if (!settled) {
          await this.store.removeFromSet(setKey, session.session.id);
          return { kind: 'locked' };
        }
        for (const entry of input.audit) await this.audit.record(conversationId, entry);
        return { kind: 'redeemed', conversation: settled };
      }
      raw = swapped.current;
    }
    throw new GatewayError('GW_ERR_STORE_UNAVAILABLE', 'pivot record kept changing');
  }

  /** issued → revoked, atomically; false when it was no longer issued. Audits the revocation. */
  async revoke(conversationId: string, jti: string, reason: RevokeReason, at: string, actor?: AuditActor): Promise<boolean> {
    const key = keys.pivot(conversationId, jti);
    let raw = await this.store.get(key);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      if (raw === undefined) return false;
      const record = JSON.parse(raw) as PivotRecord;
      if (record.state !== 'issued') return false;
      const swapped = await this.store.compareAndSet(key, raw, JSON.stringify({ ...record, state: 'revoked', revokedAt: at, revokedReason: reason } satisfies PivotRecord));
      if (swapped.ok) {
        await this.audit.record(conversationId, { type: 'pivot_revoked', pivotId: jti, reason, ...(actor ? { actor: { ...actor } } : {}) });
        return true;
      }
      raw = swapped.current;
    }
    throw new GatewayError('GW_ERR_STORE_UNAVAILABLE', 'pivot record kept changing');
  }

  /** The lock key is the lock's source of truth; `secure: 'locked'` is its visible mirror. */
  async isLocked(conversation: Conversation | string): Promise<boolean> {
    if (typeof conversation !== 'string' && conversation.secure === 'locked') return true;
    const id = typeof conversation === 'string' ? conversation : conversation.id;
    return (await this.store.get(keys.secureLock(id))) !== undefined;
  }

  /**
   * Writes the conversation's secure state, then re-reads the lock key: if a
   * lock landed meanwhile, puts `locked` back and returns undefined. (A
   * lock writes its key BEFORE revoking anything, so whichever way two nodes
   * interleave, a lock is never overwritten.)
   */
  private async settleSecure(conversationId: string, state: Exclude<SecureState, 'locked'>): Promise<Conversation | undefined> {
    const conversation = await this.store.updateConversation(conversationId, { secure: state });
    if (!(await this.isLocked(conversationId))) return conversation;
    await this.store.updateConversation(conversationId, { secure: 'locked' });
    return undefined;
  }

  /** Makes `jti` the conversation's current pivot; returns the one it replaced. */
  private async becomeCurrent(conversationId: string, jti: string, ttlSeconds: number): Promise<string | undefined> {
    const key = keys.currentPivot(conversationId);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const previous = await this.store.get(key);
      if (previous === undefined) {
        if (await this.store.setIfAbsent(key, jti, ttlSeconds)) return undefined;
      } else if ((await this.store.compareAndSet(key, previous, jti, ttlSeconds)).ok) {
        return previous;
      }
    }
    throw new GatewayError('GW_ERR_STORE_UNAVAILABLE', 'current pivot kept changing');
  }
}
