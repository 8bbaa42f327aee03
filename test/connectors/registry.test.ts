/**
 * The registry enables a connector exactly when its credentials are set, and
 * WhatsApp replies go back through the door the customer came in by (Cloud
 * API or Twilio) when both are configured.
 */
import twilio from 'twilio';
import { createConnectors } from '../../connectors/registry';
import { TEST_SECRETS, buildParts, startApp, uniqueDigits } from './support/gateway-parts';
import { fixture } from './support/fixtures';
import { postMeta } from './support/meta';
import { PlatformStandIn, type RecordedRequest } from './support/platform-stand-in';

const NONE = Object.fromEntries(Object.keys(TEST_SECRETS).map((k) => [k, undefined]));
const PRODUCTION = {
  NODE_ENV: 'production',
  REDIS_URL: 'redis://127.0.0.1:1',
  PIVOT_SIGNING_KEYS: '{"keys":[{"kty":"OKP"}]}',
  DATA_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}`,
  ADVISOR_JWKS_URL: 'https://idp.example/jwks',
  ADVISOR_ISSUER: 'https://idp.example',
  ADVISOR_AUDIENCE: 'pivot',
};

describe('createConnectors', () => {
  it('enables every configured platform, plus the sandbox outside production', async () => {
    const parts = await buildParts();
    const connectors = createConnectors(parts.ctx);
    expect([...connectors.keys()].sort()).toEqual(['botframework', 'messenger', 'sandbox', 'sms', 'whatsapp']);
    expect(Object.fromEntries([...connectors].map(([channel, c]) => [channel, c.webhookPath]))).toEqual({
      sms: '/webhooks/twilio',
      messenger: '/webhooks/messenger',
      whatsapp: '/webhooks/whatsapp',
      botframework: '/api/messages',
      sandbox: '/sandbox/api',
    });
    await parts.store.close();
  });

  it('with no credentials only the sandbox and an unauthenticated Bot Framework channel (development) or nothing (production)', async () => {
    const dev = await buildParts(NONE);
    expect([...createConnectors(dev.ctx).keys()]).toEqual(['botframework', 'sandbox']);
    await dev.store.close();
    const prod = await buildParts({ ...NONE, ...PRODUCTION }, dev.store);
    expect([...createConnectors(prod.ctx).keys()]).toEqual([]);
  });

  it('Twilio alone serves sms and whatsapp (one webhook, mounted once)', async () => {
    const { TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM } = TEST_SECRETS;
    const parts = await buildParts({ ...NONE, ...PRODUCTION, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM });
    const connectors = createConnectors(parts.ctx);
    expect([...connectors.keys()].sort()).toEqual(['sms', 'whatsapp']);
    expect(connectors.get('whatsapp')!.webhookPath).toBeUndefined();
    await parts.store.close();
  });
});

describe('WhatsApp through two doors', () => {
  it('answers each customer through the door they last came in by', async () => {
    const standIn = await new PlatformStandIn((request: RecordedRequest) =>
      request.path.endsWith('Messages.json') ? { status: 201, body: { ...fixture<Record<string, unknown>>('twilio/message-created.json'), sid: `SM${uniqueDigits(32)}` } } : { status: 200, body: { messaging_product: 'whatsapp', messages: [{ id: `wamid.${uniqueDigits(20)}` }] } },
    ).start();
    const parts = await buildParts({ META_GRAPH_URL: `${standIn.url}/v24.0`, TWILIO_API_URL: standIn.url });
    const connectors = createConnectors(parts.ctx);
    const app = await startApp([...new Set(connectors.values())]);
    try {
      const viaTwilio = `+1555${uniqueDigits(7)}`;
      const params = { ...fixture<Record<string, string>>('twilio/inbound-whatsapp.json'), From: `whatsapp:${viaTwilio}`, MessageSid: `SM${uniqueDigits(32)}`, To: 'whatsapp:+14155238886' };
      const signature = twilio.getExpectedTwilioSignature(TEST_SECRETS.TWILIO_AUTH_TOKEN, 'https://gw.example/webhooks/twilio', params);
      const res = await fetch(`${app.url}/webhooks/twilio`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature }, body: new URLSearchParams(params).toString() });
      expect(res.status).toBe(200);

      const whatsapp = connectors.get('whatsapp')!;
      const { conversation } = await parts.store.openConversation('whatsapp', viaTwilio);
      await whatsapp.send(conversation, 'via Twilio');
      expect(standIn.requests.at(-1)!.path).toMatch(/Messages\.json$/);
      expect(Object.fromEntries(new URLSearchParams(standIn.requests.at(-1)!.body))).toMatchObject({ To: `whatsapp:${viaTwilio}`, From: 'whatsapp:+14155238886', Body: 'via Twilio' });

      // The same customer now writes through the Cloud API: the next reply goes that way.
      const waId = viaTwilio.slice(1);
      const cloud = fixture<{ entry: Array<{ changes: Array<{ value: { messages: Array<{ from: string; id: string }> } }> }> }>('whatsapp/message-text.json');
      cloud.entry[0]!.changes[0]!.value.messages[0]!.from = waId;
      cloud.entry[0]!.changes[0]!.value.messages[0]!.id = `wamid.${uniqueDigits(24)}`;
      expect((await postMeta(app, '/webhooks/whatsapp', JSON.stringify({ object: 'whatsapp_business_account', ...cloud }), TEST_SECRETS.WHATSAPP_APP_SECRET)).status).toBe(200);
      await whatsapp.sendInvite(conversation, { url: 'https://gw.example/secure/#t=x', reason: 'Continue securely.' });
      expect(standIn.requests.at(-1)!.path).toBe(`/v24.0/${TEST_SECRETS.WHATSAPP_PHONE_NUMBER_ID}/messages`);

      // Someone never seen on either door: the Cloud API by default.
      const { conversation: fresh } = await parts.store.openConversation('whatsapp', `+1555${uniqueDigits(7)}`);
      await whatsapp.send(fresh, 'hello');
      expect(standIn.requests.at(-1)!.path).toBe(`/v24.0/${TEST_SECRETS.WHATSAPP_PHONE_NUMBER_ID}/messages`);
    } finally {
      await app.close();
      await parts.store.close();
      await standIn.stop();
    }
  });
});
