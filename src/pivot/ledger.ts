/**
 * The pivot ledger: where a pivot token's single use is decided.
 *
 * Each minted token's `jti` has a record in the store, under the token's
 * conversation (`pg:{c:<sub>}:pivot:<jti>`), living exactly as long as the
 * token: `issued` → `redeemed` | `revoked`. Redemption is one atomic step
 * (ledger-steps.ts: a Lua script on Redis, a compare-and-set of the record's
 * exact JSON on the memory store) that also checks the conversation: of any
 * number of concurrent redemptions, on any number of nodes, exactly one
 * wins. The record's key is derived from the verified token's `sub`, so the
 * token alone decides the conversation; a handshake that names another one
 * is refused.
 *
 * A redeemed token presented again is `token_used`. From the client that
 * redeemed it (same IP and user agent: a reopened link) that is all; from any
 * other client the link leaked or was intercepted: the ledger records a
 * `replay_alarm`, locks the conversation's secure channel (ending its live
 * sessions) and raises an `alert` for advisors.
 *
 * Locking needs no multi-key transaction: `lock()` writes the lock key BEFORE
 * it revokes anything, and every writer of the conversation's `secure` state
 * checks the lock key atomically with its write (Lua) or re-reads it after
 * (primitives). The redemption step stores the new session before it makes
 * it visible in the conversation's session set (ledger-steps.ts). Whichever
 * way two nodes interleave, a lock is never overwritten and never misses a session.
 *
 * Cost (bench/pivot.bench.ts): an issue is the signature and one script; a
 * redemption is the signature check and one round trip (the session's write
 * and the step, which also reads both failure counters). Successes never
 * write a counter.
 */
import { hash } from 'node:crypto';
import type { AuditActor, AuditClient, AuditTrail } from '../audit/audit-trail';
import { SecureSessions, type SecureSession } from '../chat/sessions';
import type { ConversationEvents } from '../conversation-events';
import { GatewayError, isGatewayError } from '../errors';
import type { Conversation } from '../messages';
import type { Logger } from '../ops/logger';
import { createLimiter, rateLimitedError, type KeyedLimiter, type RateLimits } from '../ops/rate-limits';
import { keys } from '../store/keys';
import { RedisStore } from '../store/redis.store';
import type { Store } from '../store/store';
import { StoreLedgerSteps, type LedgerSteps, type PivotIssuer, type PivotRecord, type RevokeReason } from './ledger-steps';
import { RedisLedgerSteps } from './ledger-steps.redis';
import { isPivotIntent, pivotTtlSeconds, tierOf, type PivotIntent, type Tier } from './policy';
import { expiredPayloadOf, refusalReasonOf, socketErrorOf } from './refusals';
import type { PivotClaims, PivotTokens } from './token';

export type { PivotIssuer, PivotRecord, PivotState, RevokeReason } from './ledger-steps';

export interface IssuedPivot {
  /** The token's `jti`. */
  pivotId: string;
  /** `${PUBLIC_URL}/secure/#t=${token}`: the fragment never reaches a server or a link-preview bot's log. */
  url: string;
  token: string;
  expiresAt: string;
  intent: PivotIntent;
  /** The tier the intent needs. */
  tier: Tier;
}

export interface RedeemedPivot {
  conversationId: string;
  intent: PivotIntent;
  /** The tier the intent needs; `session.session.tier` is what the session has proven (1). */
  tier: Tier;
  jti: string;
  session: { sessionToken: string; session: SecureSession };
}

export interface PivotLedgerOptions {
  /** PUBLIC_URL, without a trailing slash. */
  publicUrl: string;
  /** PIVOT_TTL_SECONDS. */
  maxTtlSeconds: number;
  logger: Logger;
  now?: () => number;
  /** How long a lock outlives inactivity; default 90 days, the default thread retention. */
  lockTtlSeconds?: number;
  /**
   * `auto` (default): Lua scripts on a RedisStore, store primitives otherwise.
   * `store-primitives` forces the portable path (tests run it on Redis too).
   */
  atomicSteps?: 'auto' | 'store-primitives';
}

/**
 * Refusals that are not guesses (a locked conversation, a link reopened by its
 * own client) never reach the failure limits, so they are bounded here instead:
 * past this many per conversation in the window they are only logged, so a
 * stolen link sent over and over cannot flood the audit trail and the advisors.
 */
const UNCOUNTED_REFUSALS_AUDITED = { points: 20, durationSeconds: 600 };

/** The refusal detail of a redeemed link reopened by the client that redeemed it. */
const SAME_CLIENT_REOPENED = 'resume_with_session';

/** The tier a redeemed pivot proves by itself (PRODUCT.md: tier 1 needs only the token). */
const TOKEN_PROVES: Tier = 1;

/** One-shot `crypto.hash`: no Hash object per redemption (same digest as createHash('sha256')). */
function fingerprintOf(jti: string, client: AuditClient): string {
  return hash('sha256', `${jti}\n${client.ip}\n${client.userAgent}`, 'base64url');
}

export class PivotLedger {
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly lockTtlSeconds: number;
  /** Lock, unlock and revocations: rare, always on the store's primitives. */
  private readonly primitives: StoreLedgerSteps;
  /** Issue and redeem: the hot path. */
  private readonly steps: LedgerSteps;
  private readonly uncountedRefusals: KeyedLimiter;

  constructor(
    private readonly store: Store,
    private readonly tokens: PivotTokens,
    private readonly audit: AuditTrail,
    private readonly events: ConversationEvents,
    private readonly sessions: SecureSessions,
    private readonly rateLimits: RateLimits,
    private readonly opts: PivotLedgerOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.log = opts.logger.child({ component: 'pivot-ledger' });
    this.lockTtlSeconds = opts.lockTtlSeconds ?? 90 * 86_400;
    this.primitives = new StoreLedgerSteps(store, audit, rateLimits);
    this.uncountedRefusals = createLimiter(store, 'uncounted-refusals', UNCOUNTED_REFUSALS_AUDITED);
    this.steps = store instanceof RedisStore && opts.atomicSteps !== 'store-primitives' ? new RedisLedgerSteps(store, audit, rateLimits) : this.primitives;
  }

  private at(): string {
    return new Date(this.now()).toISOString();
  }

  /**
   * Mints a pivot for a conversation and makes it the conversation's only
   * outstanding one (the previous unredeemed pivot is revoked).
   * @throws GatewayError GW_ERR_CONVERSATION_NOT_FOUND, GW_ERR_CONVERSATION_CLOSED, GW_ERR_CONVERSATION_LOCKED, GW_ERR_VALIDATION
   * @example const { url } = await ledger.issue(conversation.id, 'transfer_funds', { kind: 'advisor', id: advisor.sub });
   */
  async issue(conversationId: string, intent: PivotIntent, issuedBy: PivotIssuer, client?: AuditClient): Promise<IssuedPivot> {
    if (!isPivotIntent(intent)) throw new GatewayError('GW_ERR_VALIDATION', `unknown intent ${JSON.stringify(intent)}`);
    const tier = tierOf(intent);
    const ttlSeconds = pivotTtlSeconds(intent, this.opts.maxTtlSeconds);
    const minted = await this.tokens.mint({ conversationId, intent, ttlSeconds });
    const actor = { ...issuedBy };
    const result = await this.steps.issue({
      conversationId,
      jti: minted.jti,
      record: { v: 1, state: 'issued', conversationId, intent, tier, issuedAt: minted.issuedAt, expiresAt: minted.expiresAt, issuedBy: actor },
      // The record outlives the token by the verifier's clock tolerance: a token that still verifies
      // must still find its record (else a late tap reads `token_invalid`, and a late replay raises no alarm).
      ttlSeconds: ttlSeconds + this.tokens.clockToleranceSeconds + 1,
      actor,
      at: this.at(),
      audit: { type: 'pivot_issued', pivotId: minted.jti, intent, tier, actor, ...(client ? { client: { ...client } } : {}), detail: { expiresAt: minted.expiresAt } },
    });
    if (result.kind !== 'ok') {
      const code = result.kind === 'missing' ? 'GW_ERR_CONVERSATION_NOT_FOUND' : result.kind === 'closed' ? 'GW_ERR_CONVERSATION_CLOSED' : 'GW_ERR_CONVERSATION_LOCKED';
      throw new GatewayError(code, conversationId);
    }

    const conversation = result.conversation ?? (await this.store.getConversation(conversationId));
    if (conversation) this.events.publish({ conversation, event: 'pivot_sent' });
    this.log.info({ conversationId, pivotId: minted.jti, intent, tier, ttlSeconds, by: issuedBy.kind, replaced: result.replaced }, 'pivot issued');
    return { pivotId: minted.jti, url: `${this.opts.publicUrl}/secure/#t=${minted.token}`, token: minted.token, expiresAt: minted.expiresAt, intent, tier };
  }

  /**
   * Redeems a token exactly once and opens a secure session.
   * `expectedConversationId` is what the handshake claims (if it claims
   * anything): it must match the token's `sub`, it never chooses.
   * @throws GatewayError GW_ERR_TOKEN_INVALID | GW_ERR_TOKEN_EXPIRED | GW_ERR_TOKEN_USED | GW_ERR_CONVERSATION_LOCKED | GW_ERR_RATE_LIMITED
   */
  async redeem(token: string, client: AuditClient, options: { expectedConversationId?: string } = {}): Promise<RedeemedPivot> {
    let conversationId: string | undefined;
    let jti: string | undefined;
    try {
      let claims: PivotClaims;
      try {
        claims = await this.tokens.verify(token);
        conversationId = claims.sub;
        jti = claims.jti;
        if (options.expectedConversationId !== undefined && options.expectedConversationId !== claims.sub) {
          throw new GatewayError('GW_ERR_TOKEN_INVALID', 'conversation_mismatch');
        }
      } catch (err) {
        // An expired token's signature, issuer and audience were checked before its `exp`: its `sub` is authentic.
        const expired = expiredPayloadOf(err);
        if (typeof expired?.sub === 'string') conversationId = expired.sub;
        if (typeof expired?.jti === 'string') jti = expired.jti;
        // The atomic step checks the failure limits of a good token; a refusal before it checks the client
        // network's here, so a network over its limit reads `rate_limited` whatever it sends.
        await this.rateLimits.assertClientAllowed(client.ip);
        throw err;
      }
      return await this.claim(claims, client);
    } catch (err) {
      await this.refused(err, client, conversationId, jti);
      throw err;
    }
  }

  /** The one atomic step, which also stores the session. */
  private async claim(claims: PivotClaims, client: AuditClient): Promise<RedeemedPivot> {
    const { sub: conversationId, jti, intent } = claims;
    const tier = tierOf(intent);
    // Drawn first so the step stores it and audits its opening with the redemption.
    const session = this.sessions.prepare(conversationId, { tier: TOKEN_PROVES, intent, client });
    const step = await this.steps.redeem({
      conversationId,
      jti,
      ip: client.ip,
      fingerprint: fingerprintOf(jti, client),
      at: this.at(),
      audit: [{ type: 'pivot_redeemed', pivotId: jti, intent, tier, sessionId: session.session.id, client: { ...client } }, SecureSessions.openedEntry(session.session)],
      session,
    });
    switch (step.kind) {
      case 'rate_limited':
        throw rateLimitedError(step.retryAfterMs);
      case 'conversation':
        throw new GatewayError('GW_ERR_TOKEN_INVALID', 'conversation');
      case 'unknown':
        throw new GatewayError('GW_ERR_TOKEN_INVALID', 'unknown_pivot');
      case 'locked':
        throw new GatewayError('GW_ERR_CONVERSATION_LOCKED', conversationId);
      case 'revoked':
        throw step.reason === 'locked' ? new GatewayError('GW_ERR_CONVERSATION_LOCKED', conversationId) : new GatewayError('GW_ERR_TOKEN_INVALID', 'revoked');
      case 'used':
        if (!step.sameClient) await this.replayAlarm(conversationId, jti, client);
        throw new GatewayError('GW_ERR_TOKEN_USED', step.sameClient ? SAME_CLIENT_REOPENED : 'replayed');
      case 'redeemed':
        break;
    }

    const conversation = step.conversation ?? (await this.store.getConversation(conversationId));
    if (conversation) this.events.publish({ conversation, event: 'pivot_redeemed' });
    this.log.info({ conversationId, pivotId: jti, sessionId: session.session.id, intent, tier }, 'pivot redeemed');
    return { conversationId, intent, tier, jti, session: { sessionToken: session.sessionToken, session: session.session } };
  }

  /**
   * Locks the conversation's secure channel until an advisor unlocks it:
   * outstanding pivots are revoked, live sessions end, new pivots and
   * redemptions are refused with `conversation_locked`.
   */
  async lock(conversationId: string, actor: AuditActor, reason: string, client?: AuditClient): Promise<Conversation> {
    if (!(await this.store.getConversation(conversationId))) throw new GatewayError('GW_ERR_CONVERSATION_NOT_FOUND', conversationId);
    // The lock key first: every concurrent writer of `secure` checks it atomically or re-reads it after writing.
    await this.store.set(keys.secureLock(conversationId), JSON.stringify({ at: this.at(), actor, reason }), this.lockTtlSeconds);
    await this.revokeOutstanding(conversationId, 'locked', actor);
    const conversation = await this.store.updateConversation(conversationId, { secure: 'locked' });
    const ended = await this.sessions.revokeAll(conversationId, 'locked');
    await this.audit.record(conversationId, { type: 'locked', actor: { ...actor }, reason, ...(client ? { client: { ...client } } : {}), detail: { sessionsEnded: ended.length } });
    this.events.publish({ conversation, event: 'locked', reason });
    this.log.warn({ conversationId, reason, by: actor.kind, sessionsEnded: ended.length }, 'secure channel locked');
    return conversation;
  }

  /**
   * Releases a lock: the conversation's secure state goes back to `none`, and its failure count starts afresh.
   * Unlocking a conversation that is not locked changes nothing (no audit entry, no event): a live
   * session or an outstanding link keeps its state, and a repeated unlock is harmless.
   */
  async unlock(conversationId: string, actor: AuditActor, client?: AuditClient): Promise<Conversation> {
    const current = await this.store.getConversation(conversationId);
    if (!current) throw new GatewayError('GW_ERR_CONVERSATION_NOT_FOUND', conversationId);
    if (current.secure !== 'locked' && (await this.store.get(keys.secureLock(conversationId))) === undefined) return current;
    await this.store.delete(keys.secureLock(conversationId));
    const conversation = await this.store.updateConversation(conversationId, { secure: 'none' });
    await this.rateLimits.resetConversation(conversationId);
    await this.audit.record(conversationId, { type: 'unlocked', actor: { ...actor }, ...(client ? { client: { ...client } } : {}) });
    this.events.publish({ conversation, event: 'unlocked' });
    this.log.info({ conversationId, by: actor.kind }, 'secure channel unlocked');
    return conversation;
  }

  /** Revokes the conversation's unredeemed pivot, if any (close, lock, lost device). @returns its jti when one was revoked. */
  async revokeOutstanding(conversationId: string, reason: RevokeReason = 'revoked', actor?: AuditActor): Promise<string | undefined> {
    const current = await this.store.get(keys.currentPivot(conversationId));
    if (current === undefined) return undefined;
    return (await this.primitives.revoke(conversationId, current, reason, this.at(), actor)) ? current : undefined;
  }

  /** The conversation's unredeemed, unrevoked, unexpired pivot, if any (the bot's one-invite-at-a-time rule). */
  async validInvite(conversationId: string): Promise<PivotRecord | undefined> {
    const record = await this.currentRecord(conversationId);
    return record?.state === 'issued' && Date.parse(record.expiresAt) > this.now() ? record : undefined;
  }

  /** The record of the conversation's newest pivot while it lives, whatever its state (its intent is what the chat last needed). */
  async currentRecord(conversationId: string): Promise<PivotRecord | undefined> {
    const current = await this.store.get(keys.currentPivot(conversationId));
    return current === undefined ? undefined : this.record(conversationId, current);
  }

  async hasValidInvite(conversationId: string): Promise<boolean> {
    return (await this.validInvite(conversationId)) !== undefined;
  }

  /** A ledger record, for the advisor API and tests. */
  async record(conversationId: string, jti: string): Promise<PivotRecord | undefined> {
    const raw = await this.store.get(keys.pivot(conversationId, jti));
    return raw === undefined ? undefined : (JSON.parse(raw) as PivotRecord);
  }

  private async replayAlarm(conversationId: string, jti: string, client: AuditClient): Promise<void> {
    this.log.warn({ conversationId, pivotId: jti }, 'redeemed pivot presented by another client: locking the secure channel');
    await this.audit.record(conversationId, { type: 'replay_alarm', pivotId: jti, reason: 'pivot_replayed', client: { ...client } });
    const conversation = await this.lock(conversationId, { kind: 'system' }, 'pivot_replayed');
    this.events.publish({ conversation, event: 'alert', reason: 'pivot_replayed' });
  }

  /**
   * Bookkeeping of a refusal: counts it against the brute-force limits and,
   * when the conversation is known from a verified token, audits it and tells
   * advisors. Never throws: the caller rethrows the refusal itself.
   * Rate-limited attempts are only logged, so a flood cannot flood the audit trail too.
   */
  private async refused(err: unknown, client: AuditClient, conversationId: string | undefined, jti: string | undefined): Promise<void> {
    const refusal = socketErrorOf(err);
    const reason = refusalReasonOf(err);
    this.log.info({ conversationId, pivotId: jti, reason }, 'pivot refused');
    if (refusal === 'rate_limited' || refusal === 'server_error') return;
    // Not guesses: a locked conversation, and the redeeming client reopening its own link (it is told to resume).
    const guess = refusal !== 'conversation_locked' && !(isGatewayError(err, 'GW_ERR_TOKEN_USED') && err.detail === SAME_CLIENT_REOPENED);
    try {
      if (guess) await this.rateLimits.recordFailure({ ip: client.ip, ...(conversationId !== undefined ? { conversationId } : {}) });
      if (conversationId === undefined) return;
      if (!guess && !(await this.uncountedRefusals.consume(conversationId)).allowed) return; // logged above; not audited again
      const conversation = await this.store.getConversation(conversationId);
      if (!conversation) return;
      await this.audit.record(conversationId, { type: 'pivot_refused', reason, client: { ...client }, ...(jti ? { pivotId: jti } : {}) });
      this.events.publish({ conversation, event: 'pivot_refused', reason: refusal });
    } catch (bookkeeping) {
      this.log.error({ conversationId, err: isGatewayError(bookkeeping) ? bookkeeping.code : String(bookkeeping) }, 'could not record a pivot refusal');
    }
  }
}
