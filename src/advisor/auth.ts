/**
 * Who an advisor is: the bearer JWT of the REST API and the `/advisor`
 * namespace's `auth.token`.
 *
 * - With ADVISOR_JWKS_URL/ISSUER/AUDIENCE (always in production) tokens are the
 *   bank IdP's, verified with jose against its remote JWKS. jose caches the
 *   key set (`cacheMaxAge`) and refetches it, at most once per cooldown, when
 *   a token names an unknown `kid`: a key rotation at the IdP needs no restart.
 * - Outside production without them, the gateway mints its own dev tokens with
 *   an in-memory Ed25519 key (they die with the process and are accepted by
 *   this process only). `mintDevToken` refuses when an IdP is configured.
 *
 * Every failure of a token is GW_ERR_UNAUTHENTICATED (401); an IdP whose key
 * set cannot be fetched is GW_ERR_IDP_UNAVAILABLE (503), so an outage is not
 * mistaken for a bad token.
 */
import { randomUUID } from 'node:crypto';
import { createRemoteJWKSet, errors as joseErrors, generateKeyPair, jwtVerify, SignJWT, type CryptoKey, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Config } from '../config';
import { GatewayError, isGatewayError } from '../errors';
import type { Logger } from '../ops/logger';

export interface AdvisorIdentity {
  /** The IdP's subject: names the advisor in the audit trail. */
  sub: string;
  /** Shown to the customer when present. */
  name?: string;
  /** The token's `exp` (seconds since epoch): a socket opened with it is closed then. */
  exp?: number;
}

export interface AdvisorAuthOptions {
  /** The bank IdP; undefined selects dev tokens (only when `devTokens`). */
  idp?: { jwksUrl: string; issuer: string; audience: string };
  /** Gateway-minted tokens: never in production (`config.devFeatures`). */
  devTokens: boolean;
  /** Dev tokens' issuer: the gateway's PUBLIC_URL. */
  publicUrl: string;
  logger: Logger;
  /** Allowed clock difference with the IdP, seconds. Default 30. */
  clockToleranceSeconds?: number;
  /** Seconds since epoch (tests freeze the clock). */
  now?: () => number;
}

/** Asymmetric algorithms only: `none` and HMAC (a shared secret the IdP would have to give us) are refused. */
const IDP_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
const DEV_AUDIENCE = 'pivot-gateway-advisor';
const MAX_TOKEN_LENGTH = 8192;
const MAX_DEV_TTL_SECONDS = 7 * 24 * 3600;

function unauthenticated(reason: string, cause?: unknown): GatewayError {
  return new GatewayError('GW_ERR_UNAUTHENTICATED', reason, cause === undefined ? undefined : { cause });
}

/**
 * The remote key set, with failures to fetch it (network, timeout, non-200,
 * not a JWK Set) turned into GW_ERR_IDP_UNAVAILABLE; a token whose `kid` is
 * not in the set stays jose's own error (a bad token).
 */
function guardedKeySet(jwks: JWTVerifyGetKey): JWTVerifyGetKey {
  return async (header, token) => {
    try {
      return await jwks(header, token);
    } catch (err) {
      const fetchFailure =
        err instanceof joseErrors.JWKSTimeout ||
        err instanceof joseErrors.JWKSInvalid ||
        (err instanceof joseErrors.JOSEError && err.constructor === joseErrors.JOSEError) ||
        !(err instanceof joseErrors.JOSEError);
      if (fetchFailure) throw new GatewayError('GW_ERR_IDP_UNAVAILABLE', 'advisor IdP key set', { cause: err });
      throw err;
    }
  };
}

function identityOf(payload: JWTPayload): AdvisorIdentity {
  if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 256) throw unauthenticated('sub');
  const name = typeof payload.name === 'string' && payload.name.trim() !== '' ? payload.name.trim().slice(0, 120) : undefined;
  return { sub: payload.sub, ...(name ? { name } : {}), ...(typeof payload.exp === 'number' ? { exp: payload.exp } : {}) };
}

export class AdvisorAuth {
  private constructor(
    private readonly opts: AdvisorAuthOptions,
    private readonly keySet: JWTVerifyGetKey | CryptoKey,
    private readonly issuer: string,
    private readonly audience: string,
    private readonly devKey?: CryptoKey,
  ) {}

  /**
   * @example const auth = await AdvisorAuth.create({ idp: config.advisorIdp, devTokens: config.devFeatures, publicUrl: config.publicUrl, logger });
   * @throws Error when neither an IdP nor dev tokens are allowed (config validation prevents this in production).
   */
  static async create(opts: AdvisorAuthOptions): Promise<AdvisorAuth> {
    const log = opts.logger.child({ component: 'advisor-auth' });
    if (opts.idp) {
      const jwks = guardedKeySet(createRemoteJWKSet(new URL(opts.idp.jwksUrl), { cacheMaxAge: 10 * 60_000, cooldownDuration: 30_000, timeoutDuration: 5_000 }));
      log.info({ issuer: opts.idp.issuer, audience: opts.idp.audience }, 'advisor tokens: verified against the bank IdP JWKS');
      return new AdvisorAuth(opts, jwks, opts.idp.issuer, opts.idp.audience);
    }
    if (!opts.devTokens) throw new Error('advisor auth: ADVISOR_JWKS_URL, ADVISOR_ISSUER and ADVISOR_AUDIENCE are required when dev tokens are disabled');
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    log.warn('advisor tokens: ADVISOR_* unset, using gateway-minted dev tokens (dev only)');
    return new AdvisorAuth(opts, publicKey, `${opts.publicUrl}/dev-advisor`, DEV_AUDIENCE, privateKey);
  }

  /** True when tokens come from `mintDevToken` rather than the bank's IdP. */
  get devMode(): boolean {
    return this.devKey !== undefined;
  }

  /**
   * How long past its `exp` a token is still accepted: the IdP's clock may run
   * ahead of ours (default 30 s). Dev tokens are minted on this clock: none.
   * A socket must be closed only after this, or a reconnect is accepted again.
   */
  get clockToleranceSeconds(): number {
    return this.opts.clockToleranceSeconds ?? (this.devMode ? 0 : 30);
  }

  /**
   * Verifies a bearer token (signature, `iss`, `aud`, `exp`, `nbf`, `sub`).
   * @throws GatewayError GW_ERR_UNAUTHENTICATED; GW_ERR_IDP_UNAVAILABLE when the IdP's JWKS cannot be fetched.
   */
  async verify(token: unknown): Promise<AdvisorIdentity> {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) throw unauthenticated('missing');
    const options = {
      issuer: this.issuer,
      audience: this.audience,
      algorithms: this.devKey ? ['EdDSA'] : IDP_ALGORITHMS,
      clockTolerance: this.clockToleranceSeconds,
      requiredClaims: ['sub', 'exp'],
      ...(this.opts.now ? { currentDate: new Date(this.opts.now() * 1000) } : {}),
    };
    try {
      const { payload } =
        typeof this.keySet === 'function' ? await jwtVerify(token, this.keySet, options) : await jwtVerify(token, this.keySet, options);
      return identityOf(payload);
    } catch (err) {
      if (isGatewayError(err)) throw err;
      const reason = err instanceof joseErrors.JWTExpired ? 'expired' : err instanceof joseErrors.JOSEError ? err.code : 'malformed';
      throw unauthenticated(reason, err);
    }
  }

  /**
   * A dev advisor token (outside production, without an IdP configured).
   * @example const token = await auth.mintDevToken('advisor-1', 'Alex', 3600);
   * @throws GatewayError GW_ERR_FORBIDDEN when dev tokens are disabled.
   */
  async mintDevToken(sub: string, name?: string, ttlSeconds = 3600): Promise<string> {
    if (!this.devKey) throw new GatewayError('GW_ERR_FORBIDDEN', 'dev advisor tokens are disabled (an IdP is configured or NODE_ENV=production)');
    if (!sub || sub.length > 256) throw new GatewayError('GW_ERR_VALIDATION', 'sub must be 1-256 characters');
    const ttl = Math.max(1, Math.min(Math.floor(ttlSeconds), MAX_DEV_TTL_SECONDS));
    const now = this.opts.now ? this.opts.now() : Math.floor(Date.now() / 1000);
    return new SignJWT({ ...(name ? { name } : {}) })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
      .setIssuer(this.issuer)
      .setAudience(this.audience)
      .setSubject(sub)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + ttl)
      .sign(this.devKey);
  }
}

/** The options `AdvisorAuth.create` takes, from the validated config. */
export function advisorAuthOptions(config: Config, logger: Logger): AdvisorAuthOptions {
  return { ...(config.advisorIdp ? { idp: config.advisorIdp } : {}), devTokens: config.devFeatures, publicUrl: config.publicUrl, logger };
}
