/**
 * Pivot tokens: compact JWS (JWT) that carry a conversation across from the
 * public platform to the secure webview (PRODUCT.md, "Pivot token").
 *
 * A token proves only that the gateway minted it for this conversation and
 * that it has not expired. Whether it may still be redeemed is the ledger's
 * decision (single use is keyed on `jti` in the store, never on the token
 * string: ES256 signatures are malleable, so a second string can verify).
 *
 * Kept small because it travels in SMS: header `{alg,kid,typ}`, claims
 * `iss aud sub jti iat exp intent` and nothing else (~330 characters).
 */
import { errors as joseErrors, jwtVerify, SignJWT, type JWTHeaderParameters, type JWTVerifyOptions } from 'jose';
import { GatewayError } from '../errors';
import type { SigningKeys } from './keys';
import { isPivotIntent, type PivotIntent } from './policy';
import { randomBase64url } from '../random-pool';
import { tokenErrorOf } from './refusals';

export const PIVOT_TOKEN_TYPE = 'pivot+jwt';

export interface PivotClaims {
  iss: string;
  aud: string;
  /** The conversation id: the token alone decides which conversation it opens. */
  sub: string;
  /** 128 random bits, base64url: the ledger's key. */
  jti: string;
  iat: number;
  exp: number;
  intent: PivotIntent;
}

export interface PivotTokensOptions {
  /** PUBLIC_URL. */
  issuer: string;
  /** PUBLIC_URL + '/secure'. */
  audience: string;
  /** Milliseconds since the epoch; tests freeze it. */
  now?: () => number;
  /** The longest lifetime a token may have (PIVOT_TTL_SECONDS); older `iat` is refused as expired. Default 3600, the config's ceiling. */
  maxTtlSeconds?: number;
  /** Skew tolerated between gateway nodes' clocks. Small: a token lives minutes. */
  clockToleranceSeconds?: number;
}

export interface MintedToken {
  token: string;
  jti: string;
  issuedAt: string;
  expiresAt: string;
}

/** Header parameters that would let a token choose its own key (or a URL to fetch one from). */
const FORBIDDEN_HEADERS = ['jku', 'x5u', 'jwk', 'x5c', 'x5t', 'x5t#S256', 'crit'] as const;
/** A pivot token is ~330 characters; anything far larger is not ours and is refused before parsing. */
const MAX_TOKEN_LENGTH = 2048;
const JTI_PATTERN = /^[A-Za-z0-9_-]{22,64}$/;

export class PivotTokens {
  private readonly now: () => number;
  private readonly maxTtlSeconds: number;
  /** How long past `exp` a token still verifies: its ledger record must outlive that (PivotLedger.issue). */
  readonly clockToleranceSeconds: number;
  /** jwtVerify's options but the clock, built once: the key set never changes after load. */
  private readonly verifyOptions: Readonly<Omit<JWTVerifyOptions, 'currentDate'>>;
  /** Bound once, not a closure per verification. */
  private readonly keyResolver = (header: JWTHeaderParameters) => this.resolveKey(header);

  constructor(
    private readonly keys: SigningKeys,
    private readonly opts: PivotTokensOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.maxTtlSeconds = opts.maxTtlSeconds ?? 3600;
    this.clockToleranceSeconds = opts.clockToleranceSeconds ?? 5;
    this.verifyOptions = Object.freeze({
      algorithms: keys.algorithms(),
      typ: PIVOT_TOKEN_TYPE,
      issuer: opts.issuer,
      audience: opts.audience,
      // jose requires none of these by default: without `exp` a token would never expire, without `jti` it could not be single-use.
      requiredClaims: ['sub', 'jti', 'iat', 'exp', 'intent'],
      maxTokenAge: this.maxTtlSeconds,
      clockTolerance: this.clockToleranceSeconds,
    });
  }

  /**
   * Signs a token for one conversation and intent.
   * @example const { token, jti } = await tokens.mint({ conversationId, intent: 'view_account', ttlSeconds: 300 });
   */
  async mint(input: { conversationId: string; intent: PivotIntent; ttlSeconds: number }): Promise<MintedToken> {
    if (!Number.isInteger(input.ttlSeconds) || input.ttlSeconds < 1 || input.ttlSeconds > this.maxTtlSeconds) {
      throw new RangeError(`ttlSeconds must be an integer 1-${this.maxTtlSeconds}, got ${input.ttlSeconds}`);
    }
    const signing = this.keys.signing();
    const jti = randomBase64url(16);
    const iat = Math.floor(this.now() / 1000);
    const exp = iat + input.ttlSeconds;
    const token = await new SignJWT({ intent: input.intent })
      .setProtectedHeader({ alg: signing.alg, kid: signing.kid, typ: PIVOT_TOKEN_TYPE })
      .setIssuer(this.opts.issuer)
      .setAudience(this.opts.audience)
      .setSubject(input.conversationId)
      .setJti(jti)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(signing.key);
    return { token, jti, issuedAt: new Date(iat * 1000).toISOString(), expiresAt: new Date(exp * 1000).toISOString() };
  }

  /**
   * Checks signature, header and claims; says nothing about single use.
   * @throws GatewayError GW_ERR_TOKEN_INVALID or GW_ERR_TOKEN_EXPIRED
   */
  async verify(token: string): Promise<PivotClaims> {
    try {
      if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
        throw new GatewayError('GW_ERR_TOKEN_INVALID', 'malformed');
      }
      const { payload } = await jwtVerify(token, this.keyResolver, { ...this.verifyOptions, currentDate: new Date(this.now()) });
      const { sub, jti, iat, exp, intent } = payload;
      if (typeof sub !== 'string' || sub.length === 0 || sub.length > 128) throw new GatewayError('GW_ERR_TOKEN_INVALID', 'claim:sub');
      if (typeof jti !== 'string' || !JTI_PATTERN.test(jti)) throw new GatewayError('GW_ERR_TOKEN_INVALID', 'claim:jti');
      if (!isPivotIntent(intent)) throw new GatewayError('GW_ERR_TOKEN_INVALID', 'claim:intent');
      if (typeof iat !== 'number' || typeof exp !== 'number' || exp - iat > this.maxTtlSeconds) throw new GatewayError('GW_ERR_TOKEN_INVALID', 'claim:exp');
      return { iss: this.opts.issuer, aud: this.opts.audience, sub, jti, iat, exp, intent };
    } catch (err) {
      throw tokenErrorOf(err);
    }
  }

  /**
   * jose hands the parsed header here before any signature check, so a token
   * naming its own key source is refused outright (and the header is parsed once).
   */
  private resolveKey(header: JWTHeaderParameters) {
    for (const name of FORBIDDEN_HEADERS) {
      if (Object.hasOwn(header, name)) throw new GatewayError('GW_ERR_TOKEN_INVALID', 'header');
    }
    const key = this.keys.verificationKey(header.kid, header.alg);
    if (!key) throw new joseErrors.JWKSNoMatchingKey();
    return key;
  }
}
