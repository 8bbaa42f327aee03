/**
 * Secure sessions: what a redeemed pivot turns into, and what a reconnecting
 * webview resumes with (`auth: { sessionToken }`).
 *
 * - The session token is 256 random bits (base64url) handed to the webview
 *   once; the store keeps only its SHA-256 (`pg:session:<hash>`), which is
 *   also the session's id. A store dump opens nothing.
 * - Idle expiry is the key's TTL, renewed on each resume/touch. The idle
 *   lifetime depends on the tier the session has proven (policy.ts: tier 4 is
 *   capped at 30 minutes).
 * - Every update is a compare-and-set on the session's JSON, so a revocation
 *   (which deletes the key) can never be undone by a concurrent touch.
 * - A conversation keeps the set of its session ids (`pg:{c:ID}:sessions`) so
 *   a lock or a lost device revokes all of them at once.
 */
import { createHash } from 'node:crypto';
import type { AuditClient, AuditEntryInput, AuditTrail } from '../audit/audit-trail';
import type { ConversationEvents, SessionRevocation } from '../conversation-events';
import { GatewayError, isGatewayError } from '../errors';
import type { RateLimits } from '../ops/rate-limits';
import { sessionIdleSeconds, type PivotIntent, type Tier } from '../pivot/policy';
import { randomBase64url } from '../random-pool';
import { keys } from '../store/keys';
import type { Store } from '../store/store';

/** What the bank's identity provider asserted at step-up (filled by the identity module). */
export interface SessionIdentity {
  /** The IdP's `sub` for the customer. */
  subject: string;
  issuer?: string;
  acr?: string;
  amr?: string[];
  /** ISO 8601: when the IdP authenticated the person. */
  authTime?: string;
}

/** Proof, without a login, that the page runs for the conversation's platform user (Messenger Extensions `signed_request`). */
export interface SessionBinding {
  platform: 'messenger';
  /** The page-scoped id the platform signed: equal to the conversation's externalUserId. */
  psid: string;
  pageId?: string;
  /** ISO 8601: the platform's `issued_at`. */
  issuedAt: string;
  verifiedAt: string;
}

/** The customer's explicit consent in the page (tier 3), as recorded. */
export interface SessionConsent {
  consentId: string;
  intent: PivotIntent;
  /** ISO 8601. */
  at: string;
}

export interface SecureSession {
  /** SHA-256 of the session token, base64url. Safe to log and audit. */
  id: string;
  conversationId: string;
  /** The tier this session has proven so far (1 after a redeemed pivot). */
  tier: Tier;
  /** The intent of the pivot that opened it. */
  intent: PivotIntent;
  createdAt: string;
  lastSeenAt: string;
  /** When it expires if idle from now. */
  expiresAt: string;
  client: AuditClient;
  identity?: SessionIdentity;
  binding?: SessionBinding;
  consent?: SessionConsent;
}

export interface SecureSessionsOptions {
  /** SESSION_IDLE_SECONDS. */
  idleSeconds: number;
  now?: () => number;
  /** When given, failed resumes count against the client's failure limit. */
  rateLimits?: RateLimits;
}

/**
 * A session as `prepare` drew it. Whoever stores it writes `json` under
 * `keys.session(session.id)` for `ttlSeconds` (its idle lifetime) and adds
 * the id to `keys.conversationSessions(conversationId)` for `setTtlSeconds`.
 */
export interface PreparedSession {
  sessionToken: string;
  session: SecureSession;
  json: string;
  ttlSeconds: number;
  setTtlSeconds: number;
}

type RevocationReason = SessionRevocation['reason'];

const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const CAS_ATTEMPTS = 5;

export function sessionIdOf(sessionToken: string): string {
  return createHash('sha256').update(sessionToken, 'utf8').digest('base64url');
}

export class SecureSessions {
  private readonly now: () => number;

  constructor(
    private readonly store: Store,
    private readonly events: ConversationEvents,
    private readonly audit: AuditTrail,
    private readonly opts: SecureSessionsOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  private idleFor(tier: Tier): number {
    return sessionIdleSeconds(tier, this.opts.idleSeconds);
  }

  private stamp(session: SecureSession, at: number): SecureSession {
    return { ...session, lastSeenAt: new Date(at).toISOString(), expiresAt: new Date(at + this.idleFor(session.tier) * 1000).toISOString() };
  }

  /**
   * A fresh session token and its id. The pivot ledger takes one before its
   * atomic redemption step so that step can audit the session's opening
   * (`session_opened` with this id) in the same write, then passes it to `open`.
   */
  static newToken(): { sessionToken: string; id: string } {
    const sessionToken = randomBase64url(32);
    return { sessionToken, id: sessionIdOf(sessionToken) };
  }

  /**
   * A session drawn but not stored yet: the pivot ledger writes it together
   * with its atomic redemption step (one round trip on Redis) and hands
   * `sessionToken` out only once that step succeeded.
   */
  prepare(conversationId: string, input: { tier: Tier; intent: PivotIntent; client: AuditClient; sessionToken?: string }): PreparedSession {
    if (input.sessionToken !== undefined && !TOKEN_PATTERN.test(input.sessionToken)) throw new Error('sessionToken must come from SecureSessions.newToken()');
    const sessionToken = input.sessionToken ?? SecureSessions.newToken().sessionToken;
    const at = this.now();
    const session = this.stamp(
      { id: sessionIdOf(sessionToken), conversationId, tier: input.tier, intent: input.intent, createdAt: new Date(at).toISOString(), lastSeenAt: '', expiresAt: '', client: { ...input.client } },
      at,
    );
    return { sessionToken, session, json: JSON.stringify(session), ttlSeconds: this.idleFor(session.tier), setTtlSeconds: this.opts.idleSeconds };
  }

  /**
   * Opens and stores a session in one go. The returned `sessionToken` exists
   * nowhere else: hand it to the webview. (A pivot redemption does not come
   * through here: it stores a `prepare`d session inside its atomic step, where
   * a racing lock cannot miss it.) `audited: true` when the caller already
   * recorded `session_opened`.
   */
  async open(
    conversationId: string,
    input: { tier: Tier; intent: PivotIntent; client: AuditClient; sessionToken?: string; audited?: boolean },
  ): Promise<{ sessionToken: string; session: SecureSession }> {
    const { sessionToken, session, json, ttlSeconds, setTtlSeconds } = this.prepare(conversationId, input);
    // Issued together: one round trip on Redis.
    await Promise.all([
      this.store.addToSet(keys.conversationSessions(conversationId), session.id, setTtlSeconds),
      this.store.set(keys.session(session.id), json, ttlSeconds),
      input.audited ? undefined : this.audit.record(conversationId, SecureSessions.openedEntry(session)),
    ]);
    return { sessionToken, session };
  }

  /** The `session_opened` audit entry of a session. */
  static openedEntry(session: Pick<SecureSession, 'id' | 'tier' | 'intent' | 'client'>): AuditEntryInput {
    return { type: 'session_opened', sessionId: session.id, tier: session.tier, intent: session.intent, client: { ...session.client } };
  }

  /**
   * Resumes a session after a reconnect and renews its idle lifetime.
   * @throws GatewayError GW_ERR_SESSION_INVALID (unknown, expired, revoked), GW_ERR_CONVERSATION_LOCKED, GW_ERR_RATE_LIMITED
   */
  async resume(sessionToken: string, client: AuditClient): Promise<SecureSession> {
    let session: SecureSession;
    try {
      if (typeof sessionToken !== 'string' || !TOKEN_PATTERN.test(sessionToken)) throw new GatewayError('GW_ERR_SESSION_INVALID', 'malformed');
      const id = sessionIdOf(sessionToken);
      const current = await this.get(id);
      if (!current) {
        // A session a lock ended says so (the page tells the person the chat is locked, not that it "ended").
        const ended = await this.store.get(keys.endedSession(id));
        if (ended !== undefined && (await this.store.get(keys.secureLock(ended))) !== undefined) throw new GatewayError('GW_ERR_CONVERSATION_LOCKED');
        throw new GatewayError('GW_ERR_SESSION_INVALID');
      }
      const conversation = await this.store.getConversation(current.conversationId);
      if (!conversation || conversation.status === 'closed') throw new GatewayError('GW_ERR_SESSION_INVALID', 'conversation');
      if (conversation.secure === 'locked' || (await this.store.get(keys.secureLock(current.conversationId))) !== undefined) {
        throw new GatewayError('GW_ERR_CONVERSATION_LOCKED');
      }
      session = await this.update(id, (s) => ({ ...s, client: { ...client } }));
    } catch (err) {
      // A locked conversation is not a guess at a token: it does not count as a failure. A session token
      // that matches a live session is never refused for the limit (a flood from a carrier NAT's address
      // must not lock out the customers behind it): the limit answers only attempts that fail anyway.
      if (isGatewayError(err, 'GW_ERR_SESSION_INVALID')) {
        await this.opts.rateLimits?.assertClientAllowed(client.ip);
        await this.opts.rateLimits?.recordFailure({ ip: client.ip });
      }
      throw err;
    }
    await this.audit.record(session.conversationId, { type: 'session_resumed', sessionId: session.id, client: session.client });
    return session;
  }

  /** Renews the idle lifetime (e.g. on each message the session sends). @throws GW_ERR_SESSION_INVALID */
  async touch(sessionId: string): Promise<SecureSession> {
    return this.update(sessionId, (s) => s);
  }

  async get(sessionId: string): Promise<SecureSession | undefined> {
    const raw = await this.store.get(keys.session(sessionId));
    return raw === undefined ? undefined : (JSON.parse(raw) as SecureSession);
  }

  /**
   * Records what the session has proven (after an IdP step-up). The tier
   * never goes down; the idle lifetime follows the new tier.
   * @throws GW_ERR_SESSION_INVALID
   */
  async raiseTier(sessionId: string, tier: Tier, identity?: SessionIdentity): Promise<SecureSession> {
    const session = await this.update(sessionId, (s) => ({ ...s, tier: Math.max(s.tier, tier) as Tier, ...(identity ? { identity } : {}) }));
    const detail = identity ? { subject: identity.subject, ...(identity.acr ? { acr: identity.acr } : {}), ...(identity.amr?.length ? { amr: identity.amr.join(' ') } : {}) } : undefined;
    await this.audit.record(session.conversationId, { type: 'stepped_up', sessionId, tier: session.tier, ...(detail ? { detail } : {}) });
    const conversation = await this.store.getConversation(session.conversationId);
    if (conversation) this.events.publish({ conversation, event: 'stepped_up' });
    return session;
  }

  /**
   * Records a binding or a consent on the session (the identity module audits
   * them). It lives and expires with the session.
   * @throws GW_ERR_SESSION_INVALID
   */
  async recordProof(sessionId: string, proof: { binding?: SessionBinding; consent?: SessionConsent }): Promise<SecureSession> {
    return this.update(sessionId, (s) => ({ ...s, ...(proof.binding ? { binding: proof.binding } : {}), ...(proof.consent ? { consent: proof.consent } : {}) }));
  }

  /** Ends one session (logout, replaced). Idempotent. */
  async revoke(sessionId: string, reason: RevocationReason): Promise<void> {
    const session = await this.get(sessionId);
    await this.store.delete(keys.session(sessionId));
    if (!session) return;
    await this.store.removeFromSet(keys.conversationSessions(session.conversationId), sessionId);
    await this.audit.record(session.conversationId, { type: 'session_revoked', sessionId, reason });
    this.events.publishRevocation({ conversationId: session.conversationId, sessionIds: [sessionId], reason });
  }

  /**
   * Ends every session of a conversation (lock, lost device). Always
   * publishes the revocation, even with no ids, so sockets on other nodes
   * that the set no longer knows of are dropped by conversation too.
   * @returns the ids of the sessions that were live.
   */
  async revokeAll(conversationId: string, reason: RevocationReason): Promise<string[]> {
    const setKey = keys.conversationSessions(conversationId);
    const ids = await this.store.setMembers(setKey);
    const live: string[] = [];
    for (const id of ids) {
      const raw = await this.store.get(keys.session(id));
      await this.store.delete(keys.session(id));
      await this.store.removeFromSet(setKey, id);
      if (raw !== undefined) {
        live.push(id);
        // Remember which conversation the ended session belonged to, for as long as it could have been resumed.
        await this.store.set(keys.endedSession(id), conversationId, this.opts.idleSeconds);
      }
    }
    await this.audit.record(conversationId, { type: 'session_revoked', reason, detail: { count: live.length } });
    this.events.publishRevocation({ conversationId, sessionIds: live, reason });
    return live;
  }

  /**
   * Live sessions of the conversation; prunes ids whose session expired.
   * An advisor reply decides the same inside its store step
   * (Store.appendIfSecure): keep the two rules alike.
   */
  async activeCount(conversationId: string): Promise<number> {
    return (await this.live(conversationId)).length;
  }

  /** The conversation's live sessions (same pruning as activeCount). */
  async live(conversationId: string): Promise<SecureSession[]> {
    const setKey = keys.conversationSessions(conversationId);
    const ids = await this.store.setMembers(setKey);
    // Read together: one pipelined round trip, however many sessions the conversation had.
    const raw = await Promise.all(ids.map((id) => this.store.get(keys.session(id))));
    await Promise.all(ids.filter((_, i) => raw[i] === undefined).map((id) => this.store.removeFromSet(setKey, id)));
    return raw.filter((json): json is string => json !== undefined).map((json) => JSON.parse(json) as SecureSession);
  }

  /** Read, change, compare-and-set; retried when another node touched it in between. */
  private async update(sessionId: string, change: (session: SecureSession) => SecureSession): Promise<SecureSession> {
    const key = keys.session(sessionId);
    let raw = await this.store.get(key);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      if (raw === undefined) throw new GatewayError('GW_ERR_SESSION_INVALID');
      const next = this.stamp(change(JSON.parse(raw) as SecureSession), this.now());
      const result = await this.store.compareAndSet(key, raw, JSON.stringify(next), this.idleFor(next.tier));
      if (result.ok) {
        await this.store.expire(keys.conversationSessions(next.conversationId), this.opts.idleSeconds);
        return next;
      }
      raw = result.current;
    }
    throw new GatewayError('GW_ERR_STORE_UNAVAILABLE', 'session update kept conflicting');
  }
}
