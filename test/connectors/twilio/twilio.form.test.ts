/**
 * Twilio's form bodies are parsed with node:querystring (the webhook's hot
 * path). It must decode exactly as the WHATWG form decoder does, since the
 * signature is computed over the decoded values, and keep repeated keys.
 */
import fc from 'fast-check';
import twilio from 'twilio';
import { parseTwilioForm, verifyTwilioSignature } from '../../../connectors/twilio/twilio.signature';

function whatwg(body: string): Record<string, string | string[]> {
  // Null prototype: keys such as `toString` or `__proto__` are plain fields here too.
  const params = Object.create(null) as Record<string, string | string[]>;
  for (const [key, value] of new URLSearchParams(body)) {
    const previous = params[key];
    params[key] = previous === undefined ? value : Array.isArray(previous) ? [...previous, value] : [previous, value];
  }
  return params;
}

describe('parseTwilioForm', () => {
  it.each([
    ['plain and plus-encoded spaces', 'Body=Hello+world%21&From=%2B15550001111'],
    ['unicode and emoji', `Body=${encodeURIComponent('Ça va? 👋 ñ 你好')}&To=whatsapp%3A%2B1555`],
    ['empty values and a key without "="', 'Body=&MediaUrl0&NumMedia=0'],
    ['repeated keys keep every value, in order', 'AddOns=a&AddOns=b&AddOns=c&Body=x'],
    ['reserved characters inside values', `Body=${encodeURIComponent('a=b&c=d;e/f?g#h%')}`],
  ])('%s: same as the WHATWG form decoder', (_name, body) => {
    expect({ ...parseTwilioForm(Buffer.from(body)) }).toEqual(whatwg(body));
  });

  it('any well-formed form decodes as the WHATWG form decoder does', () => {
    const field = fc.string({ unit: 'grapheme', maxLength: 20 });
    fc.assert(
      fc.property(fc.array(fc.tuple(field, field), { maxLength: 8 }), (pairs) => {
        const body = new URLSearchParams(pairs).toString();
        expect({ ...parseTwilioForm(Buffer.from(body)) }).toEqual(whatwg(body));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps the first 1,000 pairs, as node:querystring maxKeys did', () => {
    const body = Array.from({ length: 1005 }, (_, i) => `k${i}=v`).join('&');
    const params = parseTwilioForm(Buffer.from(body));
    expect(Object.keys(params)).toHaveLength(1000);
    expect(params.k999).toBe('v');
    expect(params.k1000).toBeUndefined();
  });

  it('a key named __proto__ stays a plain field (no prototype change)', () => {
    const params = parseTwilioForm(Buffer.from('__proto__=x&Body=y'));
    expect(Object.getPrototypeOf(params)).toBeNull();
    expect(params.__proto__).toBe('x');
  });

  it('the signature holds over the parsed form, repeated keys included', () => {
    const token = 'test-auth-token';
    const url = 'https://gw.example/webhooks/twilio';
    const body = 'Body=Hello+there&From=%2B15550001111&AddOns=a&AddOns=b';
    const signature = twilio.getExpectedTwilioSignature(token, url, whatwg(body));
    expect(verifyTwilioSignature(token, signature, url, Buffer.from(body), parseTwilioForm(Buffer.from(body)))).toBe(true);
    expect(verifyTwilioSignature(token, signature, url, Buffer.from(body), parseTwilioForm(Buffer.from(body.replace('there', 'where'))))).toBe(false);
  });

  it('falls back to the SDK for a URL Twilio signed with the default port, and still refuses a wrong signature', () => {
    const token = 'test-auth-token';
    const body = 'Body=Hello+there&From=%2B15550001111';
    const params = parseTwilioForm(Buffer.from(body));
    const withPort = twilio.getExpectedTwilioSignature(token, 'https://gw.example:443/webhooks/twilio', whatwg(body));
    // The configured URL has no port; Twilio's console URL had one: accepted through validateRequest's port variants.
    expect(verifyTwilioSignature(token, withPort, 'https://gw.example/webhooks/twilio', Buffer.from(body), params)).toBe(true);
    // And the other way round.
    const withoutPort = twilio.getExpectedTwilioSignature(token, 'https://gw.example/webhooks/twilio', whatwg(body));
    expect(verifyTwilioSignature(token, withoutPort, 'https://gw.example:443/webhooks/twilio', Buffer.from(body), params)).toBe(true);
    for (const wrong of [twilio.getExpectedTwilioSignature('another-token', 'https://gw.example:443/webhooks/twilio', whatwg(body)), withPort.slice(1), `${withPort}=`, '', 'x']) {
      expect(verifyTwilioSignature(token, wrong, 'https://gw.example/webhooks/twilio', Buffer.from(body), params)).toBe(false);
    }
    // A non-default port is a different URL: not accepted.
    const otherPort = twilio.getExpectedTwilioSignature(token, 'https://gw.example:8443/webhooks/twilio', whatwg(body));
    expect(verifyTwilioSignature(token, otherPort, 'https://gw.example/webhooks/twilio', Buffer.from(body), params)).toBe(false);
  });

  it('checks a JSON body signed with bodySHA256 over the URL and the body hash', () => {
    const token = 'test-auth-token';
    const body = Buffer.from('{"MessageSid":"SM1"}');
    const url = `https://gw.example/webhooks/twilio?bodySHA256=${twilio.getExpectedBodyHash(body.toString('utf8'))}`;
    const signature = twilio.getExpectedTwilioSignature(token, url, {});
    expect(verifyTwilioSignature(token, signature, url, body, {})).toBe(true);
    expect(verifyTwilioSignature(token, signature, url, Buffer.from('{"MessageSid":"SM2"}'), {})).toBe(false);
  });
});
