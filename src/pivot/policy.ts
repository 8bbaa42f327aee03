/**
 * What each intent puts at stake (PRODUCT.md, "Risk tiers"), as data: the
 * intent's tier, what a secure session must prove for that tier, and how long
 * a pivot link for it may live. The bot, the ledger, the secure namespace and
 * the identity step-up all read these tables, so a policy change is one edit.
 */

/** The canonical intent names (PRODUCT.md): the API, logs, metrics and `classify` use them. */
export const PIVOT_INTENTS = ['none', 'view_account', 'update_profile', 'card_payment', 'credential_disclosure', 'lost_device', 'trade', 'transfer_funds', 'withdraw'] as const;
export type PivotIntent = (typeof PIVOT_INTENTS)[number];

/** A tier is always reported as its number. 0 public, 1 view, 2 change, 3 trade, 4 move_money. */
export type Tier = 0 | 1 | 2 | 3 | 4;
export const TIER_NAMES: Readonly<Record<Tier, string>> = Object.freeze({ 0: 'public', 1: 'view', 2: 'change', 3: 'trade', 4: 'move_money' });

const TIER_OF: Readonly<Record<PivotIntent, Tier>> = Object.freeze({
  none: 0,
  view_account: 1,
  update_profile: 2,
  card_payment: 2,
  credential_disclosure: 2,
  lost_device: 2,
  trade: 3,
  transfer_funds: 4,
  withdraw: 4,
});

export function isPivotIntent(value: unknown): value is PivotIntent {
  return typeof value === 'string' && Object.hasOwn(TIER_OF, value);
}

export function isTier(value: unknown): value is Tier {
  return value === 0 || value === 1 || value === 2 || value === 3 || value === 4;
}

/** @example tierOf('transfer_funds') === 4 */
export function tierOf(intent: PivotIntent): Tier {
  return TIER_OF[intent];
}

/** The intent with the highest tier (the first of equals), or undefined for none. @example highestIntent(['view_account', 'trade']) === 'trade' */
export function highestIntent(intents: ReadonlyArray<PivotIntent | undefined>): PivotIntent | undefined {
  let best: PivotIntent | undefined;
  for (const intent of intents) if (intent !== undefined && (best === undefined || tierOf(intent) > tierOf(best))) best = intent;
  return best;
}

/**
 * What a secure session must have proven before a conversation at this tier
 * may go on. Cumulative by construction where PRODUCT.md says so (tier 3 is
 * "tier 2 + consent"); tier 4 asks for multi-factor identity, and PRODUCT.md
 * does not ask it for a consent step, so it does not.
 *
 * The identity step-up module refines `mfa` into concrete `acr`/`amr` values;
 * it should extend this record rather than branch on tier numbers elsewhere.
 */
export interface TierRequirements {
  /** A redeemed pivot token (every secure session has it). */
  token: boolean;
  /** Identity asserted by the bank's OpenID provider. */
  idpIdentity: boolean;
  /** An explicit consent step in the webview, recorded in the audit trail. */
  consent: boolean;
  /** Multi-factor assurance from the IdP (`amr`/`acr`). */
  mfa: boolean;
}

const REQUIREMENTS: Readonly<Record<Tier, Readonly<TierRequirements>>> = Object.freeze({
  0: Object.freeze({ token: false, idpIdentity: false, consent: false, mfa: false }),
  1: Object.freeze({ token: true, idpIdentity: false, consent: false, mfa: false }),
  2: Object.freeze({ token: true, idpIdentity: true, consent: false, mfa: false }),
  3: Object.freeze({ token: true, idpIdentity: true, consent: true, mfa: false }),
  4: Object.freeze({ token: true, idpIdentity: true, consent: false, mfa: true }),
});

export function requirementsOf(tier: Tier): Readonly<TierRequirements> {
  return REQUIREMENTS[tier];
}

/**
 * Whether what a session at `held` must prove includes everything `wanted` asks
 * for. Tiers are not a ladder: tier 4 (multi-factor) does not include tier 3's
 * consent step, so a transfer's link does not cover a trade.
 * @example covers(4, 2) === true; covers(4, 3) === false
 */
export function covers(held: Tier, wanted: Tier): boolean {
  const have = REQUIREMENTS[held];
  const need = REQUIREMENTS[wanted];
  return (Object.keys(need) as Array<keyof TierRequirements>).every((proof) => !need[proof] || have[proof]);
}

/**
 * Pivot link lifetime per tier, before the PIVOT_TTL_SECONDS ceiling. The
 * higher the stake, the shorter a leaked link stays useful; tier 1-2 links get
 * the whole configured lifetime, since an SMS can take a while to be read.
 */
const TTL_CEILING_BY_TIER: Readonly<Record<Tier, number>> = Object.freeze({ 0: Infinity, 1: Infinity, 2: Infinity, 3: 180, 4: 120 });

/** Never above `maxTtlSeconds` (PIVOT_TTL_SECONDS). @example pivotTtlSeconds('withdraw', 300) === 120 */
export function pivotTtlSeconds(intent: PivotIntent, maxTtlSeconds: number): number {
  return Math.max(1, Math.floor(Math.min(maxTtlSeconds, TTL_CEILING_BY_TIER[tierOf(intent)])));
}

/**
 * Idle lifetime of a secure session that has proven `tier`: the configured
 * SESSION_IDLE_SECONDS, capped at 30 minutes once it may move money.
 */
export const MOVE_MONEY_SESSION_CAP_SECONDS = 1800;

export function sessionIdleSeconds(tier: Tier, idleSeconds: number): number {
  return tier >= 4 ? Math.min(idleSeconds, MOVE_MONEY_SESSION_CAP_SECONDS) : idleSeconds;
}

// --- identity assurance (the identity step-up, src/identity, reads these) ---------

/**
 * What counts as enough identity, as data. A bank whose provider speaks its
 * own `acr` values configures them (CUSTOMER_IDP_MFA_ACR / _AMR) instead of
 * changing code; the defaults follow RFC 8176 `amr` values and the OpenID
 * `acr` values that name multi-factor or phishing-resistant authentication.
 */
export interface AssurancePolicy {
  /** `amr` values any one of which shows multi-factor authentication. */
  mfaAmr: readonly string[];
  /** `acr` values that show multi-factor authentication. */
  mfaAcr: readonly string[];
  /** Authentication older than this must be redone (NIST SP 800-63B AAL2: 12 hours). */
  maxAuthAgeSeconds: number;
}

export const DEFAULT_ASSURANCE: Readonly<AssurancePolicy> = Object.freeze({
  // mfa: multiple factors; otp: one-time password; hwk: hardware-bound key; mca: multiple channels; sc: smart card.
  mfaAmr: Object.freeze(['mfa', 'otp', 'hwk', 'mca', 'sc']),
  // PAPE multi-factor; "phr"/"phrh": phishing-resistant (hardware) from the OpenID EAP ACR values.
  mfaAcr: Object.freeze(['http://schemas.openid.net/pape/policies/2007/06/multi-factor', 'phr', 'phrh']),
  maxAuthAgeSeconds: 12 * 3600,
});

/** The facts a secure session has established, each a requirement of `TierRequirements`. */
export interface AssuranceFacts {
  token: boolean;
  idpIdentity: boolean;
  consent: boolean;
  mfa: boolean;
}

/** The claims of the identity provider that decide assurance. */
export interface AuthenticationClaims {
  acr?: string;
  amr?: readonly string[];
  /** ISO 8601. */
  authTime?: string;
}

export function showsMfa(claims: AuthenticationClaims, policy: AssurancePolicy = DEFAULT_ASSURANCE): boolean {
  if (claims.acr !== undefined && policy.mfaAcr.includes(claims.acr)) return true;
  return (claims.amr ?? []).some((value) => policy.mfaAmr.includes(value));
}

/** True while the authentication is younger than the policy's maximum age (a missing `auth_time` is never fresh). */
export function isFresh(claims: AuthenticationClaims, nowMs: number, policy: AssurancePolicy = DEFAULT_ASSURANCE): boolean {
  const at = claims.authTime === undefined ? NaN : Date.parse(claims.authTime);
  return Number.isFinite(at) && nowMs - at <= policy.maxAuthAgeSeconds * 1000;
}

/**
 * The highest tier, up to `ceiling`, whose requirements the facts all meet.
 * Tiers are not strictly cumulative (tier 4 asks for MFA, not consent), so a
 * tier is reached by its own requirements, never by its number alone.
 * @example provenTier({ token: true, idpIdentity: true, consent: false, mfa: false }, 4) === 2
 */
export function provenTier(facts: AssuranceFacts, ceiling: Tier): Tier {
  for (let tier = ceiling; tier > 0; tier--) {
    const needs = requirementsOf(tier as Tier);
    if ((!needs.token || facts.token) && (!needs.idpIdentity || facts.idpIdentity) && (!needs.consent || facts.consent) && (!needs.mfa || facts.mfa)) return tier as Tier;
  }
  return 0;
}

/** What a session still lacks for `tier`, in the order the customer must provide it (undefined: nothing). */
export type AssuranceGap = 'identity' | 'reauthentication' | 'mfa' | 'consent';

export function assuranceGap(tier: Tier, facts: AssuranceFacts & { staleIdentity: boolean }): AssuranceGap | undefined {
  const needs = requirementsOf(tier);
  if (needs.idpIdentity && !facts.idpIdentity) return facts.staleIdentity ? 'reauthentication' : 'identity';
  if (needs.mfa && !facts.mfa) return 'mfa';
  if (needs.consent && !facts.consent) return 'consent';
  return undefined;
}
