/**
 * Twilio outbound details against the local Twilio stand-in (TWILIO_API_URL):
 * - Twilio's 1,600-character Body limit: a longer text is never cut, the send
 *   fails for good with the reason on the message;
 * - WhatsApp over Twilio answers from the sender the customer wrote to (the
 *   inbound `To`) with Twilio configured alone, and through the Messaging
 *   Service when TWILIO_FROM is one and no sender is known.
 */
import twilio from 'twilio';
import type { Connector } from '../../../connectors/connector';
import { createConnectors } from '../../../connectors/registry';
import { fixture } from '../support/fixtures';
import { buildParts, startApp, TEST_SECRETS, uniqueDigits, type App, type Parts } from '../support/gateway-parts';
import { PlatformStandIn, type RecordedRequest, type ScriptedAnswer } from '../support/platform-stand-in';
import { botMessage, buildRig, deliveryOf, type Rig } from '../../outbound/support';

const accepted = (request: RecordedRequest): ScriptedAnswer => ({ status: 201, body: { ...fixture<Record<string, unknown>>('twilio/message-created.json'), sid: `SM${uniqueDigits(32)}`, to: new URLSearchParams(request.body).get('To') } });

function form(request: RecordedRequest): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(request.body));
}

function newPhone(): string {
  return `+1555${uniqueDigits(7)}`;
}

describe('Twilio Body limit (1,600 characters)', () => {
  let standIn: PlatformStandIn;
  let rig: Rig;

  beforeAll(async () => {
    standIn = await new PlatformStandIn(accepted).start();
    rig = await buildRig(standIn);
  });
  beforeEach(() => {
    standIn.requests.length = 0;
  });
  afterAll(async () => {
    await rig.queue.close();
    await rig.store.close();
    await standIn.stop();
  });

  it('a longer text (the advisor API takes 4,096) is not cut and not sent: failed at once, no retry, with the reason', async () => {
    const { message } = await botMessage(rig, 'sms', newPhone(), 'x'.repeat(4096));
    await rig.outbox.sendText(message.conversationId, message.id);
    await rig.queue.idle();
    expect(standIn.requests).toHaveLength(0);
    const delivery = await deliveryOf(rig, message);
    expect(delivery?.status).toBe('failed');
    expect(delivery?.error).toBe("twilio 400 (#21617): text longer than Twilio's 1,600-character limit (4,096 characters); not sent, shorten or split it");
  });

  it('an invite whose text with the link exceeds the limit fails the same way', async () => {
    const { message } = await botMessage(rig, 'sms', newPhone(), 'r'.repeat(1580));
    await rig.outbox.sendInvite(message.conversationId, message.id, `https://gw.example/secure/#t=${uniqueDigits(40)}`);
    await rig.queue.idle();
    expect(standIn.requests).toHaveLength(0);
    expect(await deliveryOf(rig, message)).toMatchObject({ status: 'failed', error: expect.stringContaining("text longer than Twilio's 1,600-character limit") });
  });

  it('exactly 1,600 characters (counted as characters, not UTF-16 units or bytes) go out whole', async () => {
    const text = `${'é'.repeat(1598)}👍!`; // 1,600 characters, 1,601 UTF-16 units
    const { message } = await botMessage(rig, 'sms', newPhone(), text);
    await rig.outbox.sendText(message.conversationId, message.id);
    await rig.queue.idle();
    expect(standIn.requests).toHaveLength(1);
    expect(form(standIn.requests[0]!).Body).toBe(text);
    expect(await deliveryOf(rig, message)).toMatchObject({ status: 'sent' });
  });
});

describe('WhatsApp over Twilio, Twilio configured alone', () => {
  const NO_CLOUD_API = { WHATSAPP_APP_SECRET: undefined, WHATSAPP_VERIFY_TOKEN: undefined, WHATSAPP_ACCESS_TOKEN: undefined, WHATSAPP_PHONE_NUMBER_ID: undefined };
  const BANK_WHATSAPP_SENDER = 'whatsapp:+14155238886';
  const MESSAGING_SERVICE = `MG${'0123456789abcdef'.repeat(2)}`;

  let standIn: PlatformStandIn;

  beforeAll(async () => {
    standIn = await new PlatformStandIn(accepted).start();
  });
  beforeEach(() => {
    standIn.requests.length = 0;
  });
  afterAll(async () => {
    await standIn.stop();
  });

  /** The gateway's connectors for this config, and its webhooks mounted as the gateway mounts them. */
  async function gateway(from: string): Promise<{ parts: Parts; whatsapp: Connector; app: App }> {
    const parts = await buildParts({ ...NO_CLOUD_API, TWILIO_FROM: from, TWILIO_API_URL: standIn.url });
    expect(parts.config.whatsapp).toBeUndefined();
    const connectors = createConnectors(parts.ctx);
    const app = await startApp([connectors.get('sms')!]);
    return { parts, whatsapp: connectors.get('whatsapp')!, app };
  }

  /** A customer's WhatsApp message to the bank's sender, signed as Twilio signs it. */
  async function inbound(app: App, phone: string, to: string): Promise<void> {
    const params = { ...fixture<Record<string, string>>('twilio/inbound-whatsapp.json'), From: `whatsapp:${phone}`, WaId: phone.slice(1), To: to, MessageSid: `SM${uniqueDigits(32)}` };
    const signature = twilio.getExpectedTwilioSignature(TEST_SECRETS.TWILIO_AUTH_TOKEN, 'https://gw.example/webhooks/twilio', params);
    const res = await fetch(`${app.url}/webhooks/twilio`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature }, body: new URLSearchParams(params).toString() });
    expect(res.status).toBe(200);
  }

  it.each([
    ['an SMS number', TEST_SECRETS.TWILIO_FROM],
    ['a Messaging Service SID', MESSAGING_SERVICE],
  ])('with TWILIO_FROM %s, replies and invites come from the WhatsApp sender the customer wrote to', async (_label, from) => {
    const { parts, whatsapp, app } = await gateway(from);
    try {
      const phone = newPhone();
      await inbound(app, phone, BANK_WHATSAPP_SENDER);
      const { conversation } = await parts.store.openConversation('whatsapp', phone);
      await whatsapp.send(conversation, 'Hello from the bank');
      await whatsapp.sendInvite(conversation, { url: 'https://gw.example/secure/#t=abc', reason: 'Continue securely.' });
      expect(standIn.requests.map(form)).toEqual([
        { To: `whatsapp:${phone}`, From: BANK_WHATSAPP_SENDER, Body: 'Hello from the bank', StatusCallback: 'https://gw.example/webhooks/twilio/status' },
        { To: `whatsapp:${phone}`, From: BANK_WHATSAPP_SENDER, Body: 'Continue securely.\nContinue securely: https://gw.example/secure/#t=abc', StatusCallback: 'https://gw.example/webhooks/twilio/status' },
      ]);
    } finally {
      await app.close();
      await parts.store.close();
    }
  });

  it('with no sender known and TWILIO_FROM a Messaging Service SID, sends through the service (MessagingServiceSid, no From)', async () => {
    const { parts, whatsapp, app } = await gateway(MESSAGING_SERVICE);
    try {
      const phone = newPhone();
      const { conversation } = await parts.store.openConversation('whatsapp', phone);
      await whatsapp.send(conversation, 'first contact from the bank');
      expect(standIn.requests.map(form)).toEqual([{ To: `whatsapp:${phone}`, MessagingServiceSid: MESSAGING_SERVICE, Body: 'first contact from the bank', StatusCallback: 'https://gw.example/webhooks/twilio/status' }]);
    } finally {
      await app.close();
      await parts.store.close();
    }
  });

  it('with no sender known and TWILIO_FROM a number, sends from whatsapp: + that number', async () => {
    const { parts, whatsapp, app } = await gateway(TEST_SECRETS.TWILIO_FROM);
    try {
      const phone = newPhone();
      const { conversation } = await parts.store.openConversation('whatsapp', phone);
      await whatsapp.send(conversation, 'first contact from the bank');
      expect(standIn.requests.map(form)).toEqual([{ To: `whatsapp:${phone}`, From: `whatsapp:${TEST_SECRETS.TWILIO_FROM}`, Body: 'first contact from the bank', StatusCallback: 'https://gw.example/webhooks/twilio/status' }]);
    } finally {
      await app.close();
      await parts.store.close();
    }
  });

  it('answers each customer from the sender they wrote to, when the bank has several', async () => {
    const { parts, whatsapp, app } = await gateway(MESSAGING_SERVICE);
    try {
      const [alice, bob] = [newPhone(), newPhone()];
      await inbound(app, alice, 'whatsapp:+14155238886');
      await inbound(app, bob, 'whatsapp:+442071838750');
      for (const phone of [alice, bob]) await whatsapp.send((await parts.store.openConversation('whatsapp', phone)).conversation, 'hi');
      expect(standIn.requests.map((request) => [form(request).To, form(request).From, form(request).MessagingServiceSid])).toEqual([
        [`whatsapp:${alice}`, 'whatsapp:+14155238886', undefined],
        [`whatsapp:${bob}`, 'whatsapp:+442071838750', undefined],
      ]);
    } finally {
      await app.close();
      await parts.store.close();
    }
  });

  it('SMS still goes from TWILIO_FROM, or through the Messaging Service', async () => {
    for (const from of [TEST_SECRETS.TWILIO_FROM, MESSAGING_SERVICE]) {
      const { parts, app } = await gateway(from);
      try {
        const sms = createConnectors(parts.ctx).get('sms')!;
        const phone = newPhone();
        await sms.send((await parts.store.openConversation('sms', phone)).conversation, 'by SMS');
        expect(form(standIn.requests.at(-1)!)).toEqual({ To: phone, ...(from === MESSAGING_SERVICE ? { MessagingServiceSid: from } : { From: from }), Body: 'by SMS', StatusCallback: 'https://gw.example/webhooks/twilio/status' });
      } finally {
        await app.close();
        await parts.store.close();
      }
    }
  });
});
