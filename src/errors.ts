/**
 * The catalog of stable error codes (like fastify's FST_ERR_*): each code has
 * one HTTP status and one human title. Integrators match on `code`, never on
 * the wording. The README lists this catalog; a test keeps the two in step.
 */
export const ERRORS = {
  GW_ERR_BAD_REQUEST: { status: 400, title: 'The request is malformed' },
  GW_ERR_VALIDATION: { status: 400, title: 'The request body or query is invalid' },
  GW_ERR_PAYLOAD_TOO_LARGE: { status: 413, title: 'The request body is too large' },
  GW_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'The request body has an unsupported content type' },
  GW_ERR_NOT_FOUND: { status: 404, title: 'No such resource' },
  GW_ERR_CONVERSATION_NOT_FOUND: { status: 404, title: 'No such conversation' },
  GW_ERR_CONVERSATION_CLOSED: { status: 409, title: 'The conversation is closed' },
  GW_ERR_CONVERSATION_LOCKED: { status: 409, title: 'The secure channel of this conversation is locked' },
  GW_ERR_IDEMPOTENCY_CONFLICT: { status: 409, title: 'This Idempotency-Key was used with another request' },
  GW_ERR_UNAUTHENTICATED: { status: 401, title: 'A valid bearer token is required' },
  GW_ERR_FORBIDDEN: { status: 403, title: 'Not allowed' },
  GW_ERR_WEBHOOK_SIGNATURE: { status: 401, title: 'The webhook signature is missing or invalid' },
  GW_ERR_WEBHOOK_VERIFY_TOKEN: { status: 403, title: 'The verification token does not match' },
  GW_ERR_WEBHOOK_PAYLOAD: { status: 400, title: 'The webhook payload is not understood' },
  GW_ERR_RATE_LIMITED: { status: 429, title: 'Too many attempts; slow down' },
  GW_ERR_SENSITIVE_ON_PUBLIC_CHANNEL: { status: 422, title: 'This text holds a card number, IBAN or account number; send a secure link instead' },
  GW_ERR_CHANNEL_UNAVAILABLE: { status: 409, title: "No connector is configured for this conversation's channel" },
  GW_ERR_TOKEN_INVALID: { status: 401, title: 'The pivot token is invalid' },
  GW_ERR_TOKEN_EXPIRED: { status: 401, title: 'The pivot token has expired' },
  GW_ERR_TOKEN_USED: { status: 409, title: 'The pivot token was already used' },
  GW_ERR_SESSION_INVALID: { status: 401, title: 'The secure session is unknown, expired or revoked' },
  GW_ERR_STEPUP_UNAVAILABLE: { status: 501, title: "No identity provider is configured: tiers 2-4 cannot complete" },
  GW_ERR_STEPUP_FAILED: { status: 400, title: 'The identity provider step-up failed' },
  GW_ERR_IDP_UNAVAILABLE: { status: 503, title: "The advisor identity provider's keys cannot be fetched; retry later" },
  GW_ERR_STORE_UNAVAILABLE: { status: 503, title: 'The store is unavailable; retry later' },
  GW_ERR_OUTBOUND_FAILED: { status: 502, title: 'The messaging platform refused or failed the send' },
  GW_ERR_INTERNAL: { status: 500, title: 'Internal error' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

/**
 * An error the gateway means to report: it carries a stable code and maps to
 * an HTTP status. Anything else reaching the HTTP layer is `GW_ERR_INTERNAL`.
 * @example throw new GatewayError('GW_ERR_CONVERSATION_NOT_FOUND', `conversation ${id}`)
 */
export class GatewayError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    /** Extra, safe detail for the caller (never a secret or message text). */
    readonly detail?: string,
    options?: { cause?: unknown; extra?: Record<string, unknown> },
  ) {
    super(detail ? `${ERRORS[code].title}: ${detail}` : ERRORS[code].title, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.status = ERRORS[code].status;
    this.extra = options?.extra;
  }

  readonly extra?: Record<string, unknown>;
}

export function isGatewayError(err: unknown, code?: ErrorCode): err is GatewayError {
  return err instanceof GatewayError && (code === undefined || err.code === code);
}

/** RFC 9457 problem details, plus the contract's `code` member. */
export interface ProblemJson {
  type: string;
  title: string;
  status: number;
  detail?: string;
  code: ErrorCode;
  instance?: string;
  [extra: string]: unknown;
}

export function toProblem(err: GatewayError, instance?: string): ProblemJson {
  return {
    type: `https://pivot-gateway.dev/errors/${err.code}`,
    title: ERRORS[err.code].title,
    status: err.status,
    ...(err.detail ? { detail: err.detail } : {}),
    code: err.code,
    ...(instance ? { instance } : {}),
    ...(err.extra ?? {}),
  };
}
