/**
 * Twilio's `X-Twilio-Signature`, checked with twilio's own validator (HMAC-SHA1
 * over the URL Twilio called + the sorted form parameters, constant-time
 * compare inside the SDK).
 *
 * The URL is `PUBLIC_URL` + the request's path and query, never the Host
 * header or the scheme the request arrived with: behind a TLS-terminating
 * proxy the gateway sees `http://10.0.0.7:3000/...` while Twilio signed
 * `https://gw.bank.example/...`. The SDK tries the URL with and without the
 * default port. Connection overrides (`#rc=3&rp=all`) live in the fragment,
 * which Twilio neither sends nor signs.
 */
import twilio from 'twilio';

export const TWILIO_SIGNATURE_HEADER = 'x-twilio-signature';

/** Form parameters as Twilio signs them: repeated keys keep every value. */
export type TwilioParams = Record<string, string | string[]>;

export function parseTwilioForm(body: Buffer): TwilioParams {
  const params: TwilioParams = {};
  for (const [key, value] of new URLSearchParams(body.toString('utf8'))) {
    const previous = params[key];
    params[key] = previous === undefined ? value : Array.isArray(previous) ? [...previous, value] : [previous, value];
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
 */
export function verifyTwilioSignature(authToken: string, signature: string | undefined, url: string, body: Buffer, params: TwilioParams): boolean {
  if (!signature) return false;
  try {
    // The URL is parsed only when it has a query (where a JSON body's hash would be).
    if (url.includes('?') && new URL(url).searchParams.has('bodySHA256')) return twilio.validateRequestWithBody(authToken, signature, url, body.toString('utf8'));
    return twilio.validateRequest(authToken, signature, url, params);
  } catch {
    return false; // an unparsable URL cannot carry a valid signature
  }
}
