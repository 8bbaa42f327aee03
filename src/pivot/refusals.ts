/**
 * The one place where failures of the pivot path get their names:
 * jose's error codes → `GW_ERR_*` codes → the secure-chat contract's
 * `connect_error` strings (PRODUCT.md, "Secure chat"). Nothing else maps them,
 * so a refusal reads the same in the API, the audit trail and the socket.
 */
import { errors as joseErrors } from 'jose';
import { type ErrorCode, GatewayError, isGatewayError } from '../errors';

/**
 * What a refused `/secure` connection receives as `connect_error` `message`.
 * The first six are the contract's; `server_error` is for a store outage or a
 * bug, which is not a refusal of the person's link and must not read as one
 * (telling them "token_invalid" would make them give up on a good link).
 */
export type SecureRefusal = 'token_invalid' | 'token_expired' | 'token_used' | 'session_invalid' | 'conversation_locked' | 'rate_limited' | 'server_error';

/** jose error code → our code. Every jose failure that is not "expired" means the token is not ours or was altered. */
const JOSE_CODES: Readonly<Record<string, ErrorCode>> = Object.freeze({
  ERR_JWT_EXPIRED: 'GW_ERR_TOKEN_EXPIRED', // `exp` passed, or `iat` older than maxTokenAge
  ERR_JWT_CLAIM_VALIDATION_FAILED: 'GW_ERR_TOKEN_INVALID', // iss, aud, typ, iat in the future, missing claim
  ERR_JWT_INVALID: 'GW_ERR_TOKEN_INVALID', // claims not a JSON object
  ERR_JWS_INVALID: 'GW_ERR_TOKEN_INVALID', // not a compact JWS, bad header, unknown `crit`
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'GW_ERR_TOKEN_INVALID',
  ERR_JOSE_ALG_NOT_ALLOWED: 'GW_ERR_TOKEN_INVALID', // `none`, HS256, anything off the allow-list
  ERR_JOSE_NOT_SUPPORTED: 'GW_ERR_TOKEN_INVALID', // unrecognised `crit` extension
  ERR_JWKS_NO_MATCHING_KEY: 'GW_ERR_TOKEN_INVALID', // unknown `kid` (or a kid of another algorithm)
  ERR_JWKS_MULTIPLE_MATCHING_KEYS: 'GW_ERR_TOKEN_INVALID',
  ERR_JWK_INVALID: 'GW_ERR_TOKEN_INVALID',
  ERR_JOSE_GENERIC: 'GW_ERR_TOKEN_INVALID',
});

const SOCKET_STRINGS: Readonly<Partial<Record<ErrorCode, SecureRefusal>>> = Object.freeze({
  GW_ERR_TOKEN_INVALID: 'token_invalid',
  GW_ERR_TOKEN_EXPIRED: 'token_expired',
  GW_ERR_TOKEN_USED: 'token_used',
  GW_ERR_SESSION_INVALID: 'session_invalid',
  GW_ERR_CONVERSATION_LOCKED: 'conversation_locked',
  GW_ERR_RATE_LIMITED: 'rate_limited',
});

/** A short, token-free reason for logs and the audit trail, e.g. `signature`, `claim:aud`, `expired`. */
function joseReason(err: InstanceType<typeof joseErrors.JOSEError>): string {
  if (err instanceof joseErrors.JWTExpired) return err.claim === 'iat' ? 'too_old' : 'expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `claim:${err.claim}`;
  switch (err.code) {
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'signature';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'alg';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'kid';
    case 'ERR_JOSE_NOT_SUPPORTED':
      return 'crit';
    default:
      return 'malformed';
  }
}

/**
 * Turns whatever `jwtVerify` threw into a GatewayError. A TypeError from jose
 * means input it could not even parse (e.g. a non-numeric `exp`): invalid too.
 * A GatewayError passes through unchanged.
 */
export function tokenErrorOf(err: unknown): GatewayError {
  if (isGatewayError(err)) return err;
  if (err instanceof joseErrors.JOSEError) {
    return new GatewayError(JOSE_CODES[err.code] ?? 'GW_ERR_TOKEN_INVALID', joseReason(err), { cause: err });
  }
  return new GatewayError('GW_ERR_TOKEN_INVALID', 'malformed', { cause: err });
}

/** The payload of a token whose signature verified but whose `exp` passed: jose attaches it. */
export function expiredPayloadOf(err: unknown): Record<string, unknown> | undefined {
  const cause = isGatewayError(err) ? err.cause : err;
  return cause instanceof joseErrors.JWTExpired && typeof cause.payload === 'object' && cause.payload !== null ? cause.payload : undefined;
}

/**
 * The contract string for a refused `/secure` connection.
 * @example socket.on('connect_error', ...) receives socketErrorOf(new GatewayError('GW_ERR_TOKEN_USED'))  // 'token_used'
 */
export function socketErrorOf(err: unknown): SecureRefusal {
  if (isGatewayError(err)) return SOCKET_STRINGS[err.code] ?? 'server_error';
  if (err instanceof joseErrors.JOSEError) return SOCKET_STRINGS[tokenErrorOf(err).code] ?? 'token_invalid';
  return 'server_error';
}

/** The short reason recorded with a `pivot_refused` audit entry and event. */
export function refusalReasonOf(err: unknown): string {
  const refusal = socketErrorOf(err);
  const detail = isGatewayError(err) ? err.detail : undefined;
  return detail && refusal === 'token_invalid' && /^[a-z_:]{1,40}$/.test(detail) ? `${refusal}:${detail}` : refusal;
}
