/**
 * The identity assertion: a short-lived JWS the bank's systems verify
 * against the gateway's `/.well-known/jwks.json`, saying which bank customer
 * (the provider's `sub`) the secure conversation is with, and how strongly
 * that was established.
 *
 * Header `typ: pivot-assertion+jwt` (so it can never pass for a pivot token,
 * `pivot+jwt`, nor the reverse) and the signing key's `kid`. Claims:
 * `iss` PUBLIC_URL, `aud` PUBLIC_URL/assertion, `sub` the bank's customer
 * id, `idp` the provider's issuer, `conversation`, `channel`,
 * `externalUserId`, `tier` (what the session proves for its intent), `acr`,
 * `amr`, `auth_time`, `binding` (when a platform binding was verified),
 * `iat`, `exp` (five minutes), `jti`.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { SessionBinding, SessionIdentity } from '../chat/sessions';
import type { Conversation } from '../messages';
import type { SigningKeys } from '../pivot/keys';
import type { PivotIntent, Tier } from '../pivot/policy';

export const ASSERTION_TYPE = 'pivot-assertion+jwt';
export const ASSERTION_TTL_SECONDS = 300;

/** What the bank reads (besides iss, aud, sub, iat, exp, jti). */
export interface AssertionClaims {
  idp?: string;
  conversation: string;
  channel: string;
  externalUserId: string;
  tier: number;
  /** The intent of the session the tier was proven for: a tier answers for that intent only. */
  intent: string;
  /** True when the person consented in the page to that intent (what tier 3 adds): tier 4 does not imply it. */
  consent: boolean;
  acr?: string;
  amr?: string[];
  auth_time?: number;
  binding?: string;
}

export interface SignedAssertion {
  assertion: string;
  jti: string;
  /** ISO 8601. */
  expiresAt: string;
}

export class IdentityAssertions {
  private readonly now: () => number;

  constructor(
    private readonly keys: SigningKeys,
    private readonly opts: { publicUrl: string; ttlSeconds?: number; now?: () => number },
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** The `aud` of every assertion: bank backends check it. */
  get audience(): string {
    return `${this.opts.publicUrl}/assertion`;
  }

  async sign(input: { conversation: Conversation; identity: SessionIdentity; tier: Tier; intent: PivotIntent; consent: boolean; binding?: SessionBinding }): Promise<SignedAssertion> {
    const { conversation, identity } = input;
    const signing = this.keys.signing();
    const iat = Math.floor(this.now() / 1000);
    const exp = iat + (this.opts.ttlSeconds ?? ASSERTION_TTL_SECONDS);
    const jti = randomUUID();
    const authTime = identity.authTime ? Math.floor(Date.parse(identity.authTime) / 1000) : undefined;
    const claims: AssertionClaims = {
      ...(identity.issuer ? { idp: identity.issuer } : {}),
      conversation: conversation.id,
      channel: conversation.channel,
      externalUserId: conversation.externalUserId,
      tier: input.tier,
      intent: input.intent,
      consent: input.consent,
      ...(identity.acr ? { acr: identity.acr } : {}),
      ...(identity.amr ? { amr: [...identity.amr] } : {}),
      ...(authTime !== undefined && Number.isFinite(authTime) ? { auth_time: authTime } : {}),
      ...(input.binding ? { binding: input.binding.platform } : {}),
    };
    const assertion = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: signing.alg, kid: signing.kid, typ: ASSERTION_TYPE })
      .setIssuer(this.opts.publicUrl)
      .setAudience(this.audience)
      .setSubject(identity.subject)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(jti)
      .sign(signing.key);
    return { assertion, jti, expiresAt: new Date(exp * 1000).toISOString() };
  }
}
