/**
 * Delivery reports land on the message that was sent: Twilio status
 * callbacks, WhatsApp `statuses[]`, Messenger deliveries, each through the
 * connector's signed webhook, matched by the platform id the send returned.
 */
import twilio from 'twilio';
import type { Message } from '../../src/messages';
import { DeliveryLedger } from '../../src/outbound/delivery-ledger';
import { silentLogger } from '../../src/ops/logger';
import { clone, fixture } from '../connectors/support/fixtures';
import { startApp, TEST_SECRETS, uniqueDigits, type App } from '../connectors/support/gateway-parts';
import { postMeta } from '../connectors/support/meta';
import { PlatformStandIn, type RecordedRequest } from '../connectors/support/platform-stand-in';
import { botMessage, buildRig, deliveryOf, type Rig } from './support';

const sids: string[] = [];
function answer(request: RecordedRequest) {
  if (request.path.endsWith('Messages.json')) {
    const sid = `SM${uniqueDigits(32)}`;
    sids.push(sid);
    return { status: 201, body: { ...fixture('twilio/message-created.json'), sid } };
  }
  const id = request.path.endsWith('/me/messages') ? `m_${uniqueDigits(30)}` : `wamid.${uniqueDigits(30)}`;
  sids.push(id);
  return request.path.endsWith('/me/messages') ? { status: 200, body: { recipient_id: '1', message_id: id } } : { status: 200, body: { messaging_product: 'whatsapp', messages: [{ id }] } };
}

describe('delivery reports', () => {
  let standIn: PlatformStandIn;
  let rig: Rig;
  let app: App;

  beforeAll(async () => {
    standIn = await new PlatformStandIn(answer).start();
    rig = await buildRig(standIn);
    app = await startApp([...rig.connectors.values()]);
  });
  afterAll(async () => {
    await app.close();
    await rig.queue.close();
    await rig.store.close();
    await standIn.stop();
  });

  async function sent(channel: 'sms' | 'whatsapp' | 'messenger', user: string): Promise<{ message: Message; platformId: string }> {
    const { message } = await botMessage(rig, channel, user, 'tracked');
    await rig.outbox.sendText(message.conversationId, message.id);
    await rig.queue.idle();
    return { message, platformId: sids.at(-1)! };
  }

  it('a Twilio status callback (signed) marks the SMS delivered, then a failure report would not undo it', async () => {
    const { message, platformId } = await sent('sms', `+1555${uniqueDigits(7)}`);
    const { ErrorCode: _failure, ...callback } = fixture<Record<string, string>>('twilio/status-undelivered.json');
    const params = { ...callback, MessageSid: platformId, SmsSid: platformId, MessageStatus: 'delivered', SmsStatus: 'delivered' };
    const signature = twilio.getExpectedTwilioSignature(TEST_SECRETS.TWILIO_AUTH_TOKEN, 'https://gw.example/webhooks/twilio/status', params);
    const res = await fetch(`${app.url}/webhooks/twilio/status`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature }, body: new URLSearchParams(params).toString() });
    expect(res.status).toBe(200);
    expect(await deliveryOf(rig, message)).toMatchObject({ status: 'delivered' });
  });

  it('an undelivered SMS shows Twilio\'s error code and its meaning', async () => {
    const { message, platformId } = await sent('sms', `+1555${uniqueDigits(7)}`);
    const params = { ...fixture<Record<string, string>>('twilio/status-undelivered.json'), MessageSid: platformId, SmsSid: platformId };
    const signature = twilio.getExpectedTwilioSignature(TEST_SECRETS.TWILIO_AUTH_TOKEN, 'https://gw.example/webhooks/twilio/status', params);
    const unsigned = await fetch(`${app.url}/webhooks/twilio/status`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params).toString() });
    expect(unsigned.status).toBe(401);
    expect(await deliveryOf(rig, message)).toMatchObject({ status: 'sent' });
    const res = await fetch(`${app.url}/webhooks/twilio/status`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature }, body: new URLSearchParams(params).toString() });
    expect(res.status).toBe(200);
    expect(await deliveryOf(rig, message)).toEqual(expect.objectContaining({ status: 'failed', error: 'twilio undelivered (#30003): unreachable destination handset' }));
  });

  it('WhatsApp statuses[]: 131047 (outside the 24-hour window) is shown to the advisor in Meta\'s words', async () => {
    const { message, platformId } = await sent('whatsapp', `+1555${uniqueDigits(7)}`);
    const payload = clone(fixture<{ entry: Array<{ changes: Array<{ value: { statuses: Array<{ id: string }> } }> }> }>('whatsapp/status-failed-131047.json'));
    payload.entry[0]!.changes[0]!.value.statuses[0]!.id = platformId;
    expect((await postMeta(app, '/webhooks/whatsapp', JSON.stringify({ object: 'whatsapp_business_account', ...payload }), TEST_SECRETS.WHATSAPP_APP_SECRET)).status).toBe(200);
    expect(await deliveryOf(rig, message)).toEqual(
      expect.objectContaining({ status: 'failed', error: 'whatsapp 131047: Re-engagement message — Message failed to send because more than 24 hours have passed since the customer last replied to this number.' }),
    );
  });

  it('a Messenger delivery event marks the message delivered', async () => {
    const { message, platformId } = await sent('messenger', uniqueDigits(16));
    const payload = clone(fixture<{ object: string; entry: Array<{ messaging: Array<{ delivery: { mids: string[] } }> }> }>('messenger/message-delivery.json'));
    payload.entry[0]!.messaging[0]!.delivery.mids = [platformId];
    expect((await postMeta(app, '/webhooks/messenger', JSON.stringify(payload), TEST_SECRETS.MESSENGER_APP_SECRET)).status).toBe(200);
    expect(await deliveryOf(rig, message)).toMatchObject({ status: 'delivered' });
  });

  it('a report that beats the send home is kept and applied; reports only move forward', async () => {
    const ledger = new DeliveryLedger(rig.store, silentLogger());
    const { message } = await botMessage(rig, 'whatsapp', `+1555${uniqueDigits(7)}`, 'racing');
    const platformId = `wamid.${uniqueDigits(30)}`;
    await ledger.report(platformId, 'delivered'); // before the outbox knows the id
    await rig.store.setDelivery(message.conversationId, message.id, 'sent');
    await ledger.remember(platformId, message.conversationId, message.id);
    expect(await deliveryOf(rig, message)).toMatchObject({ status: 'delivered' });
    await ledger.report(platformId, 'read');
    await ledger.report(platformId, 'delivered'); // late and out of order
    await ledger.report(platformId, 'sent');
    expect(await deliveryOf(rig, message)).toMatchObject({ status: 'read' });
  });

  it('a report for a message that is not ours changes nothing', async () => {
    await expect(rig.deliveries.report(`wamid.${uniqueDigits(30)}`, 'failed', 'x')).resolves.toBeUndefined();
  });
});
