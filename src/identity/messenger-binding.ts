/**
 * Messenger background binding: proof, with no login, that the secure page
 * runs inside Messenger for the conversation's own Messenger user.
 *
 * The page asks the Messenger Extensions SDK for its context
 * (`MessengerExtensions.getContext(appId, ...)`), whose `signed_request` is
 * `<signature>.<payload>`, both base64url: the payload is JSON
 * (`algorithm: "HMAC-SHA256"`, `issued_at`, `psid`, `page_id`, ...) and the
 * signature is HMAC-SHA256 of the payload's base64url text with the app
 * secret (MESSENGER_APP_SECRET). A forwarded link fails it: the person who
 * opens it in their own Messenger has another `psid`.
 *
 * The signature is checked first, on the raw text, in constant time; the
 * payload is parsed only once it is known to come from Meta.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** How old a signed_request may be (it is minted when the page asks, so a few minutes is generous). */
export const SIGNED_REQUEST_MAX_AGE_SECONDS = 300;
/** Clocks differ a little: an `issued_at` this far in the future still counts. */
const FUTURE_SKEW_SECONDS = 60;
const MAX_LENGTH = 4096;
const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;

export interface MessengerContext {
  psid: string;
  pageId?: string;
  threadType?: string;
  /** Seconds since the epoch. */
  issuedAt: number;
}

export type SignedRequestVerdict = { ok: true; context: MessengerContext } | { ok: false; error: 'invalid_request' | 'signature_invalid' | 'expired' };

/**
 * Verifies a Messenger Extensions `signed_request`.
 * @example verifySignedRequest(signedRequest, config.messenger.appSecret, Date.now()) // { ok: true, context: { psid, issuedAt, ... } }
 */
export function verifySignedRequest(signedRequest: string, appSecret: string, nowMs: number, maxAgeSeconds = SIGNED_REQUEST_MAX_AGE_SECONDS): SignedRequestVerdict {
  if (typeof signedRequest !== 'string' || signedRequest.length > MAX_LENGTH) return { ok: false, error: 'invalid_request' };
  const parts = signedRequest.split('.');
  const [signaturePart, payloadPart] = parts;
  if (parts.length !== 2 || !signaturePart || !payloadPart || !BASE64URL.test(signaturePart) || !BASE64URL.test(payloadPart)) return { ok: false, error: 'invalid_request' };

  const expected = createHmac('sha256', appSecret).update(payloadPart, 'utf8').digest();
  const given = Buffer.from(signaturePart, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, error: 'signature_invalid' };

  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(payloadPart, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, error: 'invalid_request' };
  }
  if (typeof payload !== 'object' || payload === null) return { ok: false, error: 'invalid_request' };
  const fields = payload as Record<string, unknown>;
  // The signature only means what the payload says it is: refuse any other algorithm.
  if (typeof fields.algorithm !== 'string' || fields.algorithm.toUpperCase() !== 'HMAC-SHA256') return { ok: false, error: 'signature_invalid' };
  if (typeof fields.psid !== 'string' || fields.psid.length === 0) return { ok: false, error: 'invalid_request' };
  const issuedAt = typeof fields.issued_at === 'number' ? fields.issued_at : typeof fields.issued_at === 'string' ? Number(fields.issued_at) : NaN;
  if (!Number.isFinite(issuedAt)) return { ok: false, error: 'invalid_request' };
  const nowSeconds = nowMs / 1000;
  if (nowSeconds - issuedAt > maxAgeSeconds || issuedAt - nowSeconds > FUTURE_SKEW_SECONDS) return { ok: false, error: 'expired' };
  return {
    ok: true,
    context: {
      psid: fields.psid,
      issuedAt,
      ...(typeof fields.page_id === 'string' || typeof fields.page_id === 'number' ? { pageId: String(fields.page_id) } : {}),
      ...(typeof fields.thread_type === 'string' ? { threadType: fields.thread_type } : {}),
    },
  };
}

/** Builds a signed_request the way Meta does (tests, the sandbox). */
export function signRequest(payload: Record<string, unknown>, appSecret: string): string {
  const payloadPart = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
  const signature = createHmac('sha256', appSecret).update(payloadPart, 'utf8').digest('base64url');
  return `${signature}.${payloadPart}`;
}
