/**
 * Identity step-up per risk tier (PRODUCT.md, "Risk tiers"; issue 8): the
 * one place that decides what a secure session still has to prove, sends
 * the person to the bank's OpenID provider, finishes the return, and tells
 * the page, the advisor and the bank what was proven.
 *
 * - What a tier needs is policy (src/pivot/policy.ts): tier 2 an ID token
 *   for the customer, tier 3 that plus consent in the page, tier 4 an
 *   `acr`/`amr` showing multi-factor authentication. Authentication older
 *   than the policy's maximum age (12 h) no longer counts and is redone;
 *   tier-4 sessions idle out after 30 minutes (SecureSessions, policy).
 * - A session's proof is computed from facts (a fresh identity, MFA, a
 *   consent), never from its tier number alone.
 * - `stepup_required` carries the provider's authorization request and a
 *   `returnKey` the page keeps as a cookie: the return must come back to
 *   the same browser, so a step-up link sent to someone else cannot raise
 *   the sender's session with the victim's login (login CSRF).
 * - The first successful step-up links the platform identity to the bank's
 *   `sub`; another `sub` later is refused and raised as an `alert`.
 * - Without CUSTOMER_IDP_*, `stepup_required` says plainly that tiers >= 2
 *   cannot complete here, and advisors see why (API, audit trail, alert).
 * - Nothing the provider or the page sends is trusted before it is
 *   checked; no token, code or secret reaches a log line or the audit trail.
 */
import { randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import type { AuditActor, AuditTrail } from '../audit/audit-trail';
import type { AssertionPayload, BindingAck, ConsentAck, StepUpPayload, StepUpReason } from '../chat/events';
import type { SecureEmit, SecureIdentityHooks, SecureSessionRef } from '../chat/secure.namespace';
import type { SecureSession, SecureSessions } from '../chat/sessions';
import type { Config } from '../config';
import type { ConversationEvents } from '../conversation-events';
import { GatewayError } from '../errors';
import type { Conversation } from '../messages';
import type { Logger } from '../ops/logger';
import type { SigningKeys } from '../pivot/keys';
import {
  assuranceGap,
  DEFAULT_ASSURANCE,
  isFresh,
  provenTier,
  requirementsOf,
  showsMfa,
  tierOf,
  type AssuranceFacts,
  type AssuranceGap,
  type AssurancePolicy,
  type Tier,
} from '../pivot/policy';
import { keys } from '../store/keys';
import type { Store } from '../store/store';
import { IdentityAssertions } from './assertion';
import { ConsentSteps, isConsentAnswer } from './consent';
import { IdentityLinks, type IdentityLink } from './identity-links';
import { verifySignedRequest } from './messenger-binding';
import { RelyingParty, RelyingPartyError, type VerifiedIdentity } from './relying-party';
import { hashReturnKey, returnKeyMatches, StepUpStates, STEPUP_STATE_TTL_SECONDS } from './stepup-states';

/** The cookie the page sets (path `/secure/return`) before it goes to the provider. */
export const RETURN_KEY_COOKIE = 'pg_stepup';

export const UNAVAILABLE_MESSAGE =
  'Identity verification is not set up on this gateway (no CUSTOMER_IDP_* identity provider is configured), so steps that need tier 2 or higher cannot be completed here. An advisor can help you another way.';
export const UNAVAILABLE_FOR_ADVISORS = 'CUSTOMER_IDP_ISSUER and CUSTOMER_IDP_CLIENT_ID are not configured: customers cannot verify their identity, so tiers 2-4 cannot complete.';

const MESSAGES: Readonly<Record<StepUpReason, string>> = {
  identity_required: 'Please confirm your identity with your bank to go on.',
  mfa_required: 'This needs a stronger sign-in: please sign in again with your second factor (code or security key).',
  reauthentication_required: 'Your last sign-in is too old for this: please sign in again.',
  unavailable: UNAVAILABLE_MESSAGE,
  failed: 'The identity check did not complete. Please try again.',
  cancelled: 'The sign-in was cancelled. Please try again to go on.',
  identity_mismatch: 'This sign-in belongs to a different customer than the one linked to this chat. An advisor has been told.',
};

/** Why a return was refused (audit `reason`). */
type Refusal =
  | 'state_unknown'
  | 'state_replayed'
  | 'browser_mismatch'
  | 'session_invalid'
  | 'idp_error'
  | 'token_error'
  | 'id_token_invalid'
  | 'idp_unreachable'
  | 'identity_mismatch';

/** What a finished (or refused) return comes to; the router redirects to `/secure/` either way. */
export type ReturnOutcome = { ok: true; conversationId: string; sessionId: string; tier: Tier; missing?: AssuranceGap } | { ok: false; reason: Refusal; conversationId?: string };

/** What advisors see of a conversation's identity (`GET /api/conversations/:id` → `identity`). */
export interface IdentityView {
  stepUp: { available: true; issuer: string } | { available: false; reason: string };
  /** The bank customer this platform identity is linked to (by any conversation). */
  linkedCustomer?: IdentityLink;
  /** The identity a live secure session of this conversation proved. */
  verified?: { subject: string; issuer?: string; acr?: string; amr?: string[]; authTime?: string; mfa: boolean; fresh: boolean; tier: number; sessionId: string };
  binding?: { platform: string; psid: string; verifiedAt: string; sessionId: string };
}

export interface IdentityStepUpDeps {
  config: Readonly<Config>;
  store: Store;
  sessions: SecureSessions;
  audit: AuditTrail;
  events: ConversationEvents;
  keys: SigningKeys;
  logger: Logger;
  now?: () => number;
  /** Overrides the policy's defaults (CUSTOMER_IDP_MFA_* already apply). */
  policy?: Partial<AssurancePolicy>;
}

type Facts = AssuranceFacts & { staleIdentity: boolean };

export class IdentityStepUp {
  readonly policy: AssurancePolicy;
  readonly assertions: IdentityAssertions;
  private readonly rp: RelyingParty | undefined;
  private readonly states: StepUpStates;
  private readonly links: IdentityLinks;
  private readonly consents: ConsentSteps;
  private readonly now: () => number;
  private readonly log: Logger;

  constructor(private readonly deps: IdentityStepUpDeps) {
    const { config } = deps;
    this.now = deps.now ?? Date.now;
    this.log = deps.logger.child({ component: 'identity' });
    this.policy = {
      ...DEFAULT_ASSURANCE,
      ...(config.customerIdp?.mfaAcr ? { mfaAcr: config.customerIdp.mfaAcr } : {}),
      ...(config.customerIdp?.mfaAmr ? { mfaAmr: config.customerIdp.mfaAmr } : {}),
      ...deps.policy,
    };
    this.rp = config.customerIdp
      ? new RelyingParty({
          issuer: config.customerIdp.issuer,
          clientId: config.customerIdp.clientId,
          clientSecret: config.customerIdp.clientSecret,
          redirectUri: this.returnUrl,
          allowInsecureIssuer: config.devFeatures,
          logger: deps.logger,
        })
      : undefined;
    this.states = new StepUpStates(deps.store);
    this.links = new IdentityLinks(deps.store, { ttlSeconds: config.threadRetentionDays * 86_400, now: this.now });
    this.consents = new ConsentSteps(deps.store, deps.audit);
    this.assertions = new IdentityAssertions(deps.keys, { publicUrl: config.publicUrl, now: this.now });
    if (!this.rp) this.log.warn(UNAVAILABLE_FOR_ADVISORS);
  }

  /** True when CUSTOMER_IDP_* is configured. */
  get available(): boolean {
    return this.rp !== undefined;
  }

  /** `PUBLIC_URL/secure/return`: the redirect URI to register at the provider. */
  get returnUrl(): string {
    return `${this.deps.config.publicUrl}/secure/return`;
  }

  /** Where the page is, after a return (no token in it: the page resumes from sessionStorage). */
  get pageUrl(): string {
    return `${this.deps.config.publicUrl}/secure/`;
  }

  /** The return-key cookie's path (PUBLIC_URL may carry a prefix). */
  get cookiePath(): string {
    return `${new URL(this.deps.config.publicUrl).pathname.replace(/\/$/, '')}/secure/return`;
  }

  /** Discovers the provider in the background at start (the first step-up does it otherwise). */
  warmUp(): void {
    void this.rp?.warmUp();
  }

  // --- facts ------------------------------------------------------------------

  private factsOf(session: SecureSession): Facts {
    const identity = session.identity;
    const fresh = identity !== undefined && isFresh(identity, this.now(), this.policy);
    return {
      token: true,
      idpIdentity: fresh,
      mfa: fresh && identity !== undefined && showsMfa(identity, this.policy),
      consent: fresh && session.consent?.intent === session.intent,
      staleIdentity: identity !== undefined && !fresh,
    };
  }

  private neededTier(session: SecureSession): Tier {
    return tierOf(session.intent);
  }

  /** What the session proves for its own intent, now. */
  effectiveTier(session: SecureSession): Tier {
    return provenTier(this.factsOf(session), Math.max(1, this.neededTier(session)) as Tier);
  }

  // --- the secure namespace -----------------------------------------------------

  /**
   * `stepup_required` for a session below its intent's tier, or undefined.
   * Never throws for a provider outage: the payload then says it failed,
   * and the chat goes on (a throw would close the socket).
   */
  readonly stepUp = async (ref: SecureSessionRef): Promise<StepUpPayload | undefined> => {
    const session = await this.deps.sessions.get(ref.sessionId);
    if (!session) return undefined;
    const tier = this.neededTier(session);
    const gap = assuranceGap(tier, this.factsOf(session));
    if (gap === undefined || gap === 'consent') return undefined;
    if (!this.rp) {
      await this.noteUnavailable(session, tier);
      return { tier, reason: 'unavailable', message: MESSAGES.unavailable };
    }
    const note = await this.takeNote(session.id);
    const reason: StepUpReason = note ?? (gap === 'mfa' ? 'mfa_required' : gap === 'reauthentication' ? 'reauthentication_required' : 'identity_required');
    try {
      const { url, returnKey } = await this.begin(this.rp, session, tier, gap);
      return { tier, url, reason, message: MESSAGES[reason], returnKey };
    } catch (err) {
      this.log.warn({ conversationId: session.conversationId, err: err instanceof RelyingPartyError ? err.reason : String(err) }, 'step-up could not start: identity provider unreachable');
      return { tier, reason: 'failed', message: 'The bank’s sign-in service cannot be reached right now. Please try again in a few minutes.' };
    }
  };

  /** The identity hooks of the `/secure` namespace. */
  hooks(): SecureIdentityHooks {
    return {
      afterConnect: (ref, emit) => this.afterConnect(ref, emit),
      consent: (ref, payload, emit) => this.consent(ref, payload, emit),
      bind: (ref, payload) => this.bind(ref, payload),
    };
  }

  private async begin(rp: RelyingParty, session: SecureSession, tier: Tier, gap: AssuranceGap): Promise<{ url: string; returnKey: string }> {
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const returnKey = randomBytes(32).toString('base64url');
    const needsMfa = requirementsOf(tier).mfa;
    const url = await rp.authorizationUrl({
      state,
      nonce,
      codeVerifier,
      maxAgeSeconds: this.policy.maxAuthAgeSeconds,
      ...(needsMfa && this.policy.mfaAcr.length ? { acrValues: this.policy.mfaAcr } : {}),
      // An earlier sign-in was too weak or too old: the provider must not hand back the same one.
      ...(gap === 'mfa' || gap === 'reauthentication' ? { prompt: 'login' as const } : {}),
    });
    await this.states.save(state, {
      sessionId: session.id,
      conversationId: session.conversationId,
      tier,
      nonce,
      codeVerifier,
      returnKeyHash: hashReturnKey(returnKey),
      maxAgeSeconds: this.policy.maxAuthAgeSeconds,
      createdAt: new Date(this.now()).toISOString(),
    });
    return { url, returnKey };
  }

  private async afterConnect(ref: SecureSessionRef, emit: SecureEmit): Promise<void> {
    const session = await this.deps.sessions.get(ref.sessionId);
    if (!session) return;
    const conversation = await this.deps.store.getConversation(session.conversationId);
    if (!conversation) return;
    const tier = this.neededTier(session);
    const facts = this.factsOf(session);
    if (assuranceGap(tier, facts) === 'consent') emit('consent_required', await this.consents.request(session, tier));
    if (facts.idpIdentity) emit('assertion', await this.issueAssertion(conversation, session, { kind: 'customer' }));
    const { messenger, messengerAppId } = this.deps.config;
    if (conversation.channel === 'messenger' && messenger && messengerAppId && !session.binding) emit('binding_requested', { platform: 'messenger', appId: messengerAppId });
  }

  private async consent(ref: SecureSessionRef, payload: unknown, emit: SecureEmit): Promise<ConsentAck> {
    if (!isConsentAnswer(payload)) return { ok: false, error: 'invalid_request' };
    const session = await this.deps.sessions.get(ref.sessionId);
    if (!session) return { ok: false, error: 'session_invalid' };
    const tier = this.neededTier(session);
    const refuse = async (reason: string, error: 'not_expected' | 'stepup_required' | 'consent_expired'): Promise<ConsentAck> => {
      await this.deps.audit.record(session.conversationId, { type: 'stepup_refused', reason, actor: { kind: 'customer' }, client: session.client, sessionId: session.id, intent: session.intent, tier });
      return { ok: false, error };
    };
    if (!requirementsOf(tier).consent) return refuse('consent_not_expected', 'not_expected');
    const facts = this.factsOf(session);
    if (!facts.idpIdentity) return refuse('consent_before_identity', 'stepup_required');
    if (facts.consent) return { ok: true, tier: this.effectiveTier(session) };
    const record = await this.consents.take(session, payload.consentId);
    if (!record) return refuse('consent_unknown', 'consent_expired');
    const at = new Date(this.now()).toISOString();
    const consented = await this.deps.sessions.recordProof(session.id, { consent: { consentId: record.consentId, intent: record.intent, at } });
    await this.consents.recordAccepted(consented, record, at);
    const raised = await this.deps.sessions.raiseTier(session.id, this.effectiveTier(consented));
    const conversation = await this.deps.store.getConversation(session.conversationId);
    if (conversation) emit('assertion', await this.issueAssertion(conversation, raised, { kind: 'customer' }));
    return { ok: true, tier: this.effectiveTier(raised) };
  }

  private async bind(ref: SecureSessionRef, payload: unknown): Promise<BindingAck> {
    if (typeof payload !== 'object' || payload === null) return { ok: false, error: 'invalid_request' };
    const { platform, signedRequest } = payload as Record<string, unknown>;
    if (platform !== 'messenger' || typeof signedRequest !== 'string') return { ok: false, error: 'invalid_request' };
    const session = await this.deps.sessions.get(ref.sessionId);
    const conversation = session ? await this.deps.store.getConversation(session.conversationId) : undefined;
    const appSecret = this.deps.config.messenger?.appSecret;
    if (!session || !conversation || conversation.channel !== 'messenger' || !appSecret) return { ok: false, error: 'unavailable' };
    const refuse = async (error: 'invalid_request' | 'signature_invalid' | 'expired' | 'psid_mismatch'): Promise<BindingAck> => {
      await this.deps.audit.record(conversation.id, { type: 'binding_refused', reason: error, actor: { kind: 'customer' }, client: session.client, sessionId: session.id, detail: { platform: 'messenger' } });
      this.log.info({ conversationId: conversation.id, reason: error }, 'messenger binding refused');
      return { ok: false, error };
    };
    const verdict = verifySignedRequest(signedRequest, appSecret, this.now());
    if (!verdict.ok) return refuse(verdict.error);
    if (verdict.context.psid !== conversation.externalUserId) return refuse('psid_mismatch');
    const binding = {
      platform: 'messenger' as const,
      psid: verdict.context.psid,
      ...(verdict.context.pageId ? { pageId: verdict.context.pageId } : {}),
      issuedAt: new Date(verdict.context.issuedAt * 1000).toISOString(),
      verifiedAt: new Date(this.now()).toISOString(),
    };
    await this.deps.sessions.recordProof(session.id, { binding });
    await this.deps.audit.record(conversation.id, { type: 'binding', actor: { kind: 'customer' }, client: session.client, sessionId: session.id, detail: { platform: 'messenger', psid: binding.psid, issuedAt: binding.issuedAt } });
    return { ok: true };
  }

  // --- /secure/return -----------------------------------------------------------

  /**
   * Finishes a step-up from the provider's redirect. `query` is the return's
   * query string as received; `returnKey` the page's cookie. The state is
   * spent first, whatever happens next: a return is never processed twice.
   */
  async complete(query: URLSearchParams, returnKey: string | undefined): Promise<ReturnOutcome> {
    const state = query.get('state');
    if (!state || !this.rp) return { ok: false, reason: 'state_unknown' };
    const taken = await this.states.consume(state);
    if (taken.outcome === 'unknown') {
      this.log.info({ reason: 'state_unknown' }, 'step-up return refused');
      return { ok: false, reason: 'state_unknown' };
    }
    if (taken.outcome === 'replayed') {
      await this.refuseReturn(taken.conversationId, taken.sessionId, 'state_replayed', undefined, 'failed');
      return { ok: false, reason: 'state_replayed', conversationId: taken.conversationId };
    }
    const { pending } = taken;
    const { conversationId, sessionId } = pending;
    if (!returnKeyMatches(pending, returnKey)) {
      await this.refuseReturn(conversationId, sessionId, 'browser_mismatch', undefined, 'failed');
      return { ok: false, reason: 'browser_mismatch', conversationId };
    }
    const session = await this.deps.sessions.get(sessionId);
    const conversation = await this.deps.store.getConversation(conversationId);
    if (!session || !conversation || conversation.status === 'closed') {
      await this.refuseReturn(conversationId, sessionId, 'session_invalid', undefined, undefined);
      return { ok: false, reason: 'session_invalid', conversationId };
    }

    let identity: VerifiedIdentity;
    try {
      const callback = new URL(this.returnUrl);
      callback.search = query.toString();
      identity = await this.rp.exchange(callback, { state, nonce: pending.nonce, codeVerifier: pending.codeVerifier, maxAgeSeconds: pending.maxAgeSeconds });
    } catch (err) {
      const failure = err instanceof RelyingPartyError ? err : new RelyingPartyError('idp_unreachable', 'unknown');
      const note: StepUpReason = failure.reason === 'idp_error' && failure.detail === 'access_denied' ? 'cancelled' : 'failed';
      await this.refuseReturn(conversationId, sessionId, failure.reason, failure.detail, note, session);
      return { ok: false, reason: failure.reason, conversationId };
    }

    const link = await this.links.linkOrCompare(conversation.channel, conversation.externalUserId, { subject: identity.subject, issuer: identity.issuer, conversationId });
    if (link.outcome === 'mismatch') {
      await this.refuseReturn(conversationId, sessionId, 'identity_mismatch', undefined, 'identity_mismatch', session);
      this.deps.events.publish({ conversation, event: 'alert', reason: 'identity_mismatch' });
      return { ok: false, reason: 'identity_mismatch', conversationId };
    }
    if (link.outcome === 'linked') {
      await this.deps.audit.record(conversationId, { type: 'identity_linked', actor: { kind: 'customer' }, sessionId, detail: { subject: identity.subject, issuer: identity.issuer, channel: conversation.channel } });
    }

    const facts = this.factsOf({ ...session, identity });
    const tier = provenTier(facts, Math.max(1, pending.tier) as Tier);
    // A second tab's older sign-in request coming back weaker than what the session already proves (a
    // password after multi-factor): the stronger fresh identity stands, and nothing claims more than was proven.
    const already = this.effectiveTier(session);
    if (already > tier) {
      await this.deps.audit.record(conversationId, { type: 'stepup_refused', reason: 'weaker_than_proven', actor: { kind: 'customer' }, sessionId, tier, detail: { kept: already } });
      this.log.info({ conversationId, tier, kept: already }, 'step-up return weaker than what the session proves; kept');
      return { ok: true, conversationId, sessionId, tier: already };
    }
    const raised = await this.deps.sessions.raiseTier(sessionId, tier, identity);
    const missing = assuranceGap(pending.tier, facts);
    if (missing === 'mfa') {
      // Stays at what it proved (tier 2); the page is told why on its next connect.
      await this.deps.audit.record(conversationId, { type: 'stepup_refused', reason: 'mfa_missing', actor: { kind: 'customer' }, sessionId, tier: pending.tier, detail: { acr: identity.acr ?? null, amr: identity.amr?.join(' ') ?? null } });
    }
    this.log.info({ conversationId, tier: raised.tier, proven: tier, missing: missing ?? null }, 'step-up completed');
    return { ok: true, conversationId, sessionId, tier, ...(missing ? { missing } : {}) };
  }

  private async refuseReturn(conversationId: string, sessionId: string, reason: Refusal, detail: string | undefined, note: StepUpReason | undefined, session?: SecureSession): Promise<void> {
    await this.deps.audit.record(conversationId, {
      type: 'stepup_refused',
      reason,
      actor: { kind: 'customer' },
      sessionId,
      ...(session ? { client: session.client, intent: session.intent } : {}),
      ...(detail ? { detail: { cause: detail.slice(0, 100) } } : {}),
    });
    if (note) await this.deps.store.set(keys.stepUpNote(sessionId), note, STEPUP_STATE_TTL_SECONDS);
    this.log.info({ conversationId, reason, cause: detail ?? null }, 'step-up return refused');
  }

  private async takeNote(sessionId: string): Promise<StepUpReason | undefined> {
    const key = keys.stepUpNote(sessionId);
    const note = await this.deps.store.get(key);
    if (note === undefined) return undefined;
    await this.deps.store.delete(key);
    return Object.hasOwn(MESSAGES, note) ? (note as StepUpReason) : undefined;
  }

  /** Once per session: the advisor is told (audit trail + alert) that this customer cannot step up here. */
  private async noteUnavailable(session: SecureSession, tier: Tier): Promise<void> {
    if (!(await this.deps.store.setIfAbsent(keys.stepUpUnavailable(session.id), '1', STEPUP_STATE_TTL_SECONDS * 6))) return;
    await this.deps.audit.record(session.conversationId, { type: 'stepup_refused', reason: 'stepup_unavailable', actor: { kind: 'system' }, sessionId: session.id, intent: session.intent, tier, detail: { why: UNAVAILABLE_FOR_ADVISORS } });
    const conversation = await this.deps.store.getConversation(session.conversationId);
    if (conversation) this.deps.events.publish({ conversation, event: 'alert', reason: 'stepup_unavailable' });
  }

  // --- advisors and the bank ----------------------------------------------------

  private async liveSessions(conversationId: string): Promise<SecureSession[]> {
    const ids = await this.deps.store.setMembers(keys.conversationSessions(conversationId));
    const sessions = await Promise.all(ids.map((id) => this.deps.sessions.get(id)));
    return sessions.filter((s): s is SecureSession => s !== undefined);
  }

  /** The live session with the strongest fresh identity, if any. */
  private async bestIdentified(conversationId: string): Promise<SecureSession | undefined> {
    let best: { session: SecureSession; tier: number } | undefined;
    for (const session of await this.liveSessions(conversationId)) {
      if (!this.factsOf(session).idpIdentity) continue;
      const tier = this.effectiveTier(session);
      if (!best || tier > best.tier || (tier === best.tier && session.lastSeenAt > best.session.lastSeenAt)) best = { session, tier };
    }
    return best?.session;
  }

  /** Read-only fields for `GET /api/conversations/:id` (advisorApi's `describe`). */
  async describe(conversation: Conversation): Promise<{ identity: IdentityView }> {
    const view: IdentityView = {
      stepUp: this.rp ? { available: true, issuer: this.rp.issuer } : { available: false, reason: UNAVAILABLE_FOR_ADVISORS },
    };
    const link = await this.links.get(conversation.channel, conversation.externalUserId);
    if (link) view.linkedCustomer = link;
    const sessions = await this.liveSessions(conversation.id);
    const identified = await this.bestIdentified(conversation.id);
    const shown = identified ?? sessions.find((s) => s.identity);
    if (shown?.identity) {
      const facts = this.factsOf(shown);
      const { subject, issuer, acr, amr, authTime } = shown.identity;
      view.verified = {
        subject,
        ...(issuer ? { issuer } : {}),
        ...(acr ? { acr } : {}),
        ...(amr ? { amr } : {}),
        ...(authTime ? { authTime } : {}),
        mfa: facts.mfa,
        fresh: facts.idpIdentity,
        tier: this.effectiveTier(shown),
        sessionId: shown.id,
      };
    }
    const bound = sessions.find((s) => s.binding);
    if (bound?.binding) view.binding = { platform: bound.binding.platform, psid: bound.binding.psid, verifiedAt: bound.binding.verifiedAt, sessionId: bound.id };
    return { identity: view };
  }

  /**
   * A fresh assertion for the conversation's strongest live identified session.
   * @throws GatewayError GW_ERR_STEPUP_UNAVAILABLE (no provider), GW_ERR_NOT_FOUND (no verified identity now)
   */
  async assertionFor(conversation: Conversation, actor: AuditActor): Promise<AssertionPayload> {
    if (!this.rp) throw new GatewayError('GW_ERR_STEPUP_UNAVAILABLE', UNAVAILABLE_FOR_ADVISORS);
    const session = await this.bestIdentified(conversation.id);
    if (!session) throw new GatewayError('GW_ERR_NOT_FOUND', 'no live secure session of this conversation has a verified identity');
    return this.issueAssertion(conversation, session, actor);
  }

  private async issueAssertion(conversation: Conversation, session: SecureSession, actor: AuditActor): Promise<AssertionPayload> {
    if (!session.identity) throw new GatewayError('GW_ERR_NOT_FOUND', 'no verified identity');
    const tier = this.effectiveTier(session);
    const signed = await this.assertions.sign({ conversation, identity: session.identity, tier, intent: session.intent, consent: this.factsOf(session).consent, ...(session.binding ? { binding: session.binding } : {}) });
    await this.deps.audit.record(conversation.id, { type: 'assertion_issued', actor, sessionId: session.id, tier, detail: { jti: signed.jti, subject: session.identity.subject, expiresAt: signed.expiresAt } });
    return { assertion: signed.assertion, expiresAt: signed.expiresAt };
  }
}
