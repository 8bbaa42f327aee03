/**
 * The gateway as an OpenID Connect relying party of the bank's provider
 * (CUSTOMER_IDP_*), on `openid-client`: authorization code flow with PKCE
 * (S256), `state` and `nonce`, and an ID token validated for issuer,
 * audience, expiry, nonce and `auth_time` (we always send `max_age`).
 *
 * Discovery is lazy and retried: a provider that is down when the gateway
 * starts does not stop the gateway, and the first step-up after it is back
 * works. Nothing here keeps per-request state: the caller stores `state`,
 * `nonce` and the PKCE verifier (src/identity/stepup-states.ts).
 */
import * as oidc from 'openid-client';
import { ConfigError } from '../config';
import type { Logger } from '../ops/logger';

export interface RelyingPartyOptions {
  issuer: string;
  clientId: string;
  /** Unset: a public client (PKCE only, `token_endpoint_auth_method: none`). */
  clientSecret?: string;
  /** `PUBLIC_URL/secure/return`: registered at the provider. */
  redirectUri: string;
  /** Plain-http issuers are refused unless this is true (dev and tests only). */
  allowInsecureIssuer: boolean;
  logger: Logger;
  /** Per HTTP call to the provider. Default 10 s. */
  timeoutSeconds?: number;
}

export interface AuthorizationRequest {
  state: string;
  nonce: string;
  codeVerifier: string;
  /** Sent as `max_age`; the ID token's `auth_time` is checked against it. */
  maxAgeSeconds: number;
  /** `acr_values`: what the provider should reach (voluntary; the ID token is checked anyway). */
  acrValues?: readonly string[];
  /** `login`: ask for a fresh authentication (an earlier one was too weak or too old). */
  prompt?: 'login';
}

/** What a validated ID token says about the customer. */
export interface VerifiedIdentity {
  subject: string;
  issuer: string;
  acr?: string;
  amr?: string[];
  /** ISO 8601. */
  authTime: string;
}

/** Why an exchange failed, as a machine-readable reason (never a token or a secret). */
export class RelyingPartyError extends Error {
  constructor(
    readonly reason: 'idp_error' | 'id_token_invalid' | 'idp_unreachable' | 'token_error',
    /** The provider's `error`, the ID token claim that failed, or the openid-client code. */
    readonly detail: string,
  ) {
    super(`${reason}: ${detail}`);
    this.name = 'RelyingPartyError';
  }
}

/** openid-client codes that mean "the provider answered, but its ID token or response is not acceptable". */
const ID_TOKEN_CODES: ReadonlySet<string> = new Set(['OAUTH_INVALID_RESPONSE', 'OAUTH_PARSE_ERROR', 'OAUTH_KEY_SELECTION_FAILED', 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED']);
const CLAIM_OF_CODE: Readonly<Record<string, string>> = { OAUTH_JWT_TIMESTAMP_CHECK_FAILED: 'exp' };

function claimOf(err: oidc.ClientError): string | undefined {
  const cause: unknown = err.cause;
  const inner = typeof cause === 'object' && cause !== null ? (cause as { cause?: unknown }).cause : undefined;
  const claim = typeof inner === 'object' && inner !== null ? (inner as { claim?: unknown }).claim : undefined;
  return typeof claim === 'string' ? claim : err.code ? CLAIM_OF_CODE[err.code] : undefined;
}

/** Maps openid-client's errors to ours once, here. */
export function relyingPartyErrorOf(err: unknown): RelyingPartyError {
  if (err instanceof RelyingPartyError) return err;
  if (err instanceof oidc.AuthorizationResponseError) return new RelyingPartyError('idp_error', err.error);
  if (err instanceof oidc.ResponseBodyError) return new RelyingPartyError('token_error', err.error);
  if (err instanceof oidc.ClientError) {
    const code = err.code ?? 'unknown';
    if (code === 'OAUTH_JWT_CLAIM_COMPARISON_FAILED' || code === 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED') return new RelyingPartyError('id_token_invalid', claimOf(err) ?? code);
    if (ID_TOKEN_CODES.has(code)) return new RelyingPartyError('id_token_invalid', code);
    // Network errors, timeouts, non-JSON or non-2xx answers: the provider is not answering as it should.
    return new RelyingPartyError('idp_unreachable', code);
  }
  return new RelyingPartyError('idp_unreachable', err instanceof Error ? err.name : 'unknown');
}

export class RelyingParty {
  private configuration: Promise<oidc.Configuration> | undefined;
  private readonly log: Logger;

  constructor(private readonly opts: RelyingPartyOptions) {
    this.log = opts.logger.child({ component: 'identity-rp' });
    if (new URL(opts.issuer).protocol !== 'https:' && !opts.allowInsecureIssuer) {
      throw new ConfigError([`CUSTOMER_IDP_ISSUER: must be https when NODE_ENV=production, got ${JSON.stringify(opts.issuer)}`]);
    }
  }

  get issuer(): string {
    return this.opts.issuer;
  }

  /** The provider's metadata and client, discovered once (a failure is retried on the next call). */
  private config(): Promise<oidc.Configuration> {
    if (!this.configuration) {
      const { issuer, clientId, clientSecret, allowInsecureIssuer } = this.opts;
      const auth = clientSecret ? oidc.ClientSecretBasic(clientSecret) : oidc.None();
      const pending = oidc
        .discovery(new URL(issuer), clientId, { client_secret: clientSecret, redirect_uris: [this.opts.redirectUri] }, auth, {
          timeout: this.opts.timeoutSeconds ?? 10,
          ...(allowInsecureIssuer && issuer.startsWith('http:') ? { execute: [oidc.allowInsecureRequests] } : {}),
        })
        .then((config) => {
          config.timeout = this.opts.timeoutSeconds ?? 10;
          this.log.info({ issuer }, 'customer identity provider discovered');
          return config;
        });
      pending.catch((err: unknown) => {
        this.log.warn({ issuer, err: err instanceof Error ? err.message : String(err) }, 'customer identity provider discovery failed: retried on the next step-up');
        if (this.configuration === pending) this.configuration = undefined;
      });
      this.configuration = pending;
    }
    return this.configuration;
  }

  /** Discovers the provider now (start-up warm-up; failures only log). */
  async warmUp(): Promise<boolean> {
    try {
      await this.config();
      return true;
    } catch {
      return false;
    }
  }

  /** The provider's authorization request for the person's browser. @throws RelyingPartyError idp_unreachable */
  async authorizationUrl(request: AuthorizationRequest): Promise<string> {
    let config: oidc.Configuration;
    try {
      config = await this.config();
    } catch (err) {
      throw relyingPartyErrorOf(err);
    }
    const params: Record<string, string> = {
      response_type: 'code',
      scope: 'openid',
      redirect_uri: this.opts.redirectUri,
      state: request.state,
      nonce: request.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(request.codeVerifier),
      code_challenge_method: 'S256',
      max_age: String(request.maxAgeSeconds),
    };
    if (request.acrValues?.length) params.acr_values = request.acrValues.join(' ');
    // `amr` is what shows a second factor; many providers include it only when asked for (OIDC Core 5.5).
    if (config.serverMetadata().claims_parameter_supported) params.claims = JSON.stringify({ id_token: { acr: null, amr: null } });
    if (request.prompt) params.prompt = request.prompt;
    return oidc.buildAuthorizationUrl(config, params).href;
  }

  /**
   * Finishes the authorization code flow from the provider's redirect:
   * checks `state` and `iss`, exchanges the code with the PKCE verifier and
   * validates the ID token (issuer, audience, expiry, nonce, auth_time).
   * @param callback the redirect as received, rebuilt on PUBLIC_URL (never the Host header).
   * @throws RelyingPartyError
   */
  async exchange(callback: URL, checks: { state: string; nonce: string; codeVerifier: string; maxAgeSeconds: number }): Promise<VerifiedIdentity> {
    try {
      const config = await this.config();
      const tokens = await oidc.authorizationCodeGrant(config, callback, {
        expectedState: checks.state,
        expectedNonce: checks.nonce,
        pkceCodeVerifier: checks.codeVerifier,
        maxAge: checks.maxAgeSeconds,
        idTokenExpected: true,
      });
      const claims = tokens.claims();
      if (!claims) throw new RelyingPartyError('id_token_invalid', 'missing');
      if (typeof claims.auth_time !== 'number') throw new RelyingPartyError('id_token_invalid', 'auth_time');
      const amr = Array.isArray(claims.amr) ? claims.amr.filter((v): v is string => typeof v === 'string') : undefined;
      return {
        subject: claims.sub,
        issuer: claims.iss,
        ...(typeof claims.acr === 'string' ? { acr: claims.acr } : {}),
        ...(amr ? { amr } : {}),
        authTime: new Date(claims.auth_time * 1000).toISOString(),
      };
    } catch (err) {
      throw relyingPartyErrorOf(err);
    }
  }
}
