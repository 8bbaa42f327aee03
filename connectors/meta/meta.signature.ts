/**
 * Meta's webhook checks, shared by Messenger and the WhatsApp Cloud API:
 * - `X-Hub-Signature-256: sha256=<hex>`: HMAC-SHA256 of the exact raw body
 *   bytes with the app secret, compared in constant time;
 * - the GET subscription challenge: `hub.mode=subscribe` and a
 *   `hub.verify_token` equal (constant time) to ours → echo `hub.challenge`.
 */
import { createHmac } from 'node:crypto';
import { safeEqual } from '../webhook';

export const META_SIGNATURE_HEADER = 'x-hub-signature-256';

/** The header value Meta would send for `body`. Also what `pivot-gateway simulate` and the tests sign with. */
export function metaSignature(appSecret: string, body: Buffer | string): string {
  return `sha256=${createHmac('sha256', appSecret).update(body).digest('hex')}`;
}

export function verifyMetaSignature(appSecret: string, header: string | undefined, body: Buffer): boolean {
  if (!header) return false;
  return safeEqual(header.trim().toLowerCase(), metaSignature(appSecret, body));
}

export type ChallengeResult = { ok: true; challenge: string } | { ok: false };

/** `query` is the request's raw query string parsed by URLSearchParams (independent of Express' query parser). */
export function answerChallenge(query: URLSearchParams, verifyToken: string): ChallengeResult {
  const mode = query.get('hub.mode');
  const token = query.get('hub.verify_token') ?? '';
  const challenge = query.get('hub.challenge') ?? '';
  // The challenge is echoed back: keep it short and plain (it is sent as text/plain with nosniff too).
  if (mode !== 'subscribe' || !safeEqual(token, verifyToken) || challenge.length === 0 || challenge.length > 256 || !/^[\w.-]+$/.test(challenge)) {
    return { ok: false };
  }
  return { ok: true, challenge };
}
