/**
 * Twilio's form bodies are parsed with node:querystring (the webhook's hot
 * path). It must decode exactly as the WHATWG form decoder does, since the
 * signature is computed over the decoded values, and keep repeated keys.
 */
import twilio from 'twilio';
import { parseTwilioForm, verifyTwilioSignature } from '../../../connectors/twilio/twilio.signature';

function whatwg(body: string): Record<string, string | string[]> {
  const params: Record<string, string | string[]> = {};
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
});
