/**
 * Twilio's `X-Twilio-Signature`, checked with twilio's own signer (HMAC-SHA1
 * over the URL Twilio called + the sorted form parameters) and a constant-time
 * compare.
 *
 * The URL is `PUBLIC_URL` + the request's path and query, never the Host
 * header or the scheme the request arrived with: behind a TLS-terminating
 * proxy the gateway sees `http://10.0.0.7:3000/...` while Twilio signed
 * `https://gw.bank.example/...`. Connection overrides (`#rc=3&rp=all`) live in
 * the fragment, which Twilio neither sends nor signs.
 */
import { parse } from 'node:querystring';
import twilio from 'twilio';
import { safeEqual } from '../webhook';

export const TWILIO_SIGNATURE_HEADER = 'x-twilio-signature';

/** Form parameters as Twilio signs them: repeated keys keep every value. */
export type TwilioParams = Record<string, string | string[]>;

export function parseTwilioForm(body: Buffer): TwilioParams {
  // node:querystring rather than URLSearchParams: the same form decoding,
  // repeated keys already as arrays, a null-prototype object, and a third of
  // the cost on every webhook. maxKeys: a Twilio form has a few dozen.
  const params = parse(body.toString('utf8'), '&', '=', { maxKeys: 1000 }) as TwilioParams;
  // Repeated keys come back as arrays of node:querystring's realm; twilio's
  // signer tests `instanceof Array`, which fails across realms (Jest's VM):
  // rebuild them here. Rare (Twilio repeats only a few keys), so cheap.
  for (const key in params) {
    const value = params[key];
    if (typeof value !== 'string' && value !== undefined) params[key] = Array.from(value);
  }
  return params;
}

/** The URL Twilio called, as it signed it: `PUBLIC_URL` + path + query. */
export function signedTwilioUrl(publicUrl: string, originalUrl: string): string {
  return `${publicUrl}${originalUrl}`;
}

/**
 * True when `signature` is Twilio's for this request. Form bodies are checked
 * over their parameters; JSON bodies (signed with a `bodySHA256` query
 * parameter) over the URL and the body's hash.
 *
 * A form is first checked against the URL exactly as configured, with one
 * HMAC: that is what Twilio signs when `PUBLIC_URL` matches the webhook URL in
 * the console. Only when that fails does the SDK's `validateRequest` run, which
 * also tries the URL with the default port added or removed and its
 * normalised forms (a console URL written `https://host:443/...` still passes).
 * A wrong signature fails both, so nothing is accepted that the SDK refuses.
 */
export function verifyTwilioSignature(authToken: string, signature: string | undefined, url: string, body: Buffer, params: TwilioParams): boolean {
  if (!signature) return false;
  try {
    // The URL is parsed only when it has a query (where a JSON body's hash would be).
    if (url.includes('?') && new URL(url).searchParams.has('bodySHA256')) return twilio.validateRequestWithBody(authToken, signature, url, body.toString('utf8'));
    if (safeEqual(twilio.getExpectedTwilioSignature(authToken, url, params), signature)) return true;
    return twilio.validateRequest(authToken, signature, url, params);
  } catch {
    return false; // an unparsable URL cannot carry a valid signature
  }
}
