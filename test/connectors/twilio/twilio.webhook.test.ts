/**
 * Twilio inbound webhook: real signatures (twilio.getExpectedTwilioSignature,
 * the SDK's own signer), the real Redis store behind a minimal ingest.
 */
import twilio from 'twilio';
import type { ConnectorContext } from '../../../connectors/connector';
import { createTwilioConnector, TwilioConnector } from '../../../connectors/twilio/twilio.connector';
import type { Store } from '../../../src/store/store';
import { fixture } from '../support/fixtures';
import { buildParts, redisStore, startApp, TEST_SECRETS, testCipher, threadOf, uniqueDigits, type App, type Parts } from '../support/gateway-parts';

const TOKEN = TEST_SECRETS.TWILIO_AUTH_TOKEN;

function smsParams(from: string, sid: string, body: string): Record<string, string> {
  return { ...fixture<Record<string, string>>('twilio/inbound-sms.json'), From: from, MessageSid: sid, SmsMessageSid: sid, SmsSid: sid, Body: body };
}

function newSid(): string {
  return `SM${uniqueDigits(32)}`;
}

function newPhone(): string {
  return `+1555${uniqueDigits(7)}`;
}

async function post(app: App, path: string, params: Record<string, string>, signature: string | undefined, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${app.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(signature === undefined ? {} : { 'x-twilio-signature': signature }), ...headers },
    body: new URLSearchParams(params).toString(),
  });
}

/** Signed as Twilio signs: over the public URL it called (PUBLIC_URL + path + query). */
function sign(params: Record<string, string>, url = 'https://gw.example/webhooks/twilio', token = TOKEN): string {
  return twilio.getExpectedTwilioSignature(token, url, params);
}

describe('Twilio webhook (POST /webhooks/twilio)', () => {
  let parts: Parts;
  let app: App;

  beforeAll(async () => {
    parts = await buildParts();
    app = await startApp([createTwilioConnector(parts.ctx)]);
  });
  afterAll(async () => {
    await app.close();
    await parts.store.close();
  });

  it('stores a validly signed SMS once and answers empty TwiML', async () => {
    const from = newPhone();
    const params = smsParams(from, newSid(), 'Hello, what is my balance?');
    const res = await post(app, '/webhooks/twilio', params, sign(params));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/xml/);
    expect(await res.text()).toBe('<?xml version="1.0" encoding="UTF-8"?><Response/>');
    const thread = await threadOf(parts.store, 'sms', from);
    expect(thread.map((m) => [m.author, m.channel, m.text])).toEqual([['customer', 'sms', 'Hello, what is my balance?']]);
  });

  it('refuses a missing, wrong or tampered signature with 401 problem JSON and stores nothing', async () => {
    const from = newPhone();
    const params = smsParams(from, newSid(), 'hi');
    const tampered = { ...params, Body: 'send money' };
    for (const [body, signature] of [
      [params, undefined],
      [params, sign(params, 'https://gw.example/webhooks/twilio', 'another-account-token')],
      [params, 'not-base64!'],
      [tampered, sign(params)],
    ] as const) {
      const res = await post(app, '/webhooks/twilio', body, signature);
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(await res.json()).toMatchObject({ status: 401, code: 'GW_ERR_WEBHOOK_SIGNATURE' });
    }
    expect(await threadOf(parts.store, 'sms', from)).toEqual([]);
  });

  it('checks PUBLIC_URL + path + query, never the Host header or the scheme the request came in with', async () => {
    const from = newPhone();
    const params = smsParams(from, newSid(), 'via the proxy');
    // The request arrives over plain http at 127.0.0.1; Twilio signed https://gw.example/...
    const hostUrl = `${app.url}/webhooks/twilio?tenant=retail`;
    expect((await post(app, '/webhooks/twilio?tenant=retail', params, sign(params, hostUrl), { 'x-forwarded-proto': 'https' })).status).toBe(401);
    expect((await post(app, '/webhooks/twilio?tenant=retail', params, sign(params, 'https://gw.example/webhooks/twilio'))).status).toBe(401); // query is signed too
    const res = await post(app, '/webhooks/twilio?tenant=retail', params, sign(params, 'https://gw.example/webhooks/twilio?tenant=retail'));
    expect(res.status).toBe(200);
    expect(await threadOf(parts.store, 'sms', from)).toHaveLength(1);
  });

  it('accepts a signature over the URL with the default port (a console URL written with :443), and nothing else', async () => {
    const from = newPhone();
    const params = smsParams(from, newSid(), 'port in the console URL');
    expect((await post(app, '/webhooks/twilio', params, sign(params, 'https://gw.example:8443/webhooks/twilio'))).status).toBe(401);
    expect(await threadOf(parts.store, 'sms', from)).toEqual([]);
    const res = await post(app, '/webhooks/twilio', params, sign(params, 'https://gw.example:443/webhooks/twilio'));
    expect(res.status).toBe(200);
    expect((await threadOf(parts.store, 'sms', from)).map((m) => m.text)).toEqual(['port in the console URL']);
  });

  it('one entry for a redelivered message: twice in a row, and ten deliveries in parallel', async () => {
    const from = newPhone();
    const params = smsParams(from, newSid(), 'once');
    for (let i = 0; i < 2; i++) expect((await post(app, '/webhooks/twilio', params, sign(params))).status).toBe(200);
    expect(await threadOf(parts.store, 'sms', from)).toHaveLength(1);

    const other = newPhone();
    const again = smsParams(other, newSid(), 'in parallel');
    const answers = await Promise.all(Array.from({ length: 10 }, () => post(app, '/webhooks/twilio', again, sign(again))));
    expect(answers.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect((await threadOf(parts.store, 'sms', other)).map((m) => m.text)).toEqual(['in parallel']);
  });

  it('three messages in a row land as three entries in order', async () => {
    const from = newPhone();
    for (const text of ['one', 'two', 'three']) {
      const params = smsParams(from, newSid(), text);
      expect((await post(app, '/webhooks/twilio', params, sign(params))).status).toBe(200);
    }
    expect((await threadOf(parts.store, 'sms', from)).map((m) => m.text)).toEqual(['one', 'two', 'three']);
  });

  it('deduplicates on I-Twilio-Idempotency-Token when MessageSid is absent', async () => {
    const from = newPhone();
    const { MessageSid: _a, SmsMessageSid: _b, SmsSid: _c, ...params } = smsParams(from, newSid(), 'no sid');
    const headers = { 'i-twilio-idempotency-token': `token-${uniqueDigits(12)}` };
    for (let i = 0; i < 3; i++) expect((await post(app, '/webhooks/twilio', params, sign(params), headers)).status).toBe(200);
    expect(await threadOf(parts.store, 'sms', from)).toHaveLength(1);
  });

  it('WhatsApp over Twilio becomes a whatsapp conversation of the E.164 number; media becomes a placeholder', async () => {
    const phone = newPhone();
    const params = { ...fixture<Record<string, string>>('twilio/inbound-whatsapp.json'), From: `whatsapp:${phone}`, WaId: phone.slice(1), MessageSid: newSid() };
    expect((await post(app, '/webhooks/twilio', params, sign(params))).status).toBe(200);
    expect((await threadOf(parts.store, 'whatsapp', phone)).map((m) => [m.channel, m.text])).toEqual([['whatsapp', 'Hi, I lost my phone']]);

    const mms = { ...smsParams(phone, newSid(), ''), NumMedia: '1', MediaContentType0: 'image/jpeg', MediaUrl0: 'https://api.twilio.com/media/ME1' };
    expect((await post(app, '/webhooks/twilio', mms, sign(mms))).status).toBe(200);
    expect((await threadOf(parts.store, 'sms', phone)).map((m) => m.text)).toEqual(['[image]']);
  });

  it('answers 413 over the body limit', async () => {
    const params = smsParams(newPhone(), newSid(), 'x'.repeat(300 * 1024));
    const res = await post(app, '/webhooks/twilio', params, sign(params));
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: 'GW_ERR_PAYLOAD_TOO_LARGE' });
  });
});

describe('Twilio webhook when storing fails', () => {
  it('answers 503 problem JSON (Twilio retries with connection overrides) and acknowledges nothing', async () => {
    const cipher = testCipher();
    const broken: Store = await redisStore(cipher);
    const parts = await buildParts({}, broken, cipher);
    const app = await startApp([createTwilioConnector(parts.ctx)]);
    await broken.close(); // the store stops answering
    try {
      const params = smsParams(newPhone(), newSid(), 'lost?');
      const res = await post(app, '/webhooks/twilio', params, sign(params));
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ code: 'GW_ERR_STORE_UNAVAILABLE' });
    } finally {
      await app.close();
    }
  });
});

describe('Twilio webhook behind a path prefix', () => {
  it('validates PUBLIC_URL with a path (https://gw.example/pivot) + the path the proxy forwarded', async () => {
    const parts = await buildParts({ PUBLIC_URL: 'https://gw.example/pivot' });
    const connector: TwilioConnector = createTwilioConnector(parts.ctx as ConnectorContext);
    const app = await startApp([connector]);
    try {
      const from = newPhone();
      const params = smsParams(from, newSid(), 'prefixed');
      const res = await post(app, '/webhooks/twilio', params, sign(params, 'https://gw.example/pivot/webhooks/twilio'));
      expect(res.status).toBe(200);
      expect(await threadOf(parts.store, 'sms', from)).toHaveLength(1);
    } finally {
      await app.close();
      await parts.store.close();
    }
  });
});
