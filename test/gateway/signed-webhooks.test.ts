/**
 * Signed platform webhooks through the whole gateway (its Express app, the
 * real connectors, the real ingest with redaction, the one Lua step on the
 * test Redis): what the connector tests show with a minimal ingest, shown
 * here end to end. Workers are off, so each stored message must be waiting
 * in the `pg:inbox` stream for a relay: that is the durable hand-over to the
 * bot, done before the webhook was acknowledged.
 */
import { randomUUID } from 'node:crypto';
import twilio from 'twilio';
import type { Gateway } from '../../src/gateway';
import type { Message, PublicChannel } from '../../src/messages';
import { keys } from '../../src/store/keys';
import type { RedisStore } from '../../src/store/redis.store';
import { clone, fixture } from '../connectors/support/fixtures';
import { TEST_SECRETS, uniqueDigits } from '../connectors/support/gateway-parts';
import { hubSignature } from '../connectors/support/meta';
import { startTestGateway } from '../support/gateway-harness';

const PUBLIC_URL = 'https://gw.example';
/** A Luhn-valid test card number: redaction must mask it before anything is stored. */
const CARD = '4111 1111 1111 1111';

let gateway: Gateway;

beforeAll(async () => {
  gateway = await startTestGateway({ PUBLIC_URL, ...TEST_SECRETS }, { workers: false });
});
afterAll(async () => {
  await gateway.close();
});

const redis = () => (gateway.services.store as RedisStore).redis;

/** The inbox's newest entry id now: entries after it are this test's (other test files share the stream). */
async function inboxMark(): Promise<string> {
  const [newest] = await redis().xrevrange(keys.inbox, '+', '-', 'COUNT', 1);
  return newest?.[0] ?? '0-0';
}

/** Inbox entries after `mark` that point into this user's conversation. */
async function inboxEntriesOf(channel: PublicChannel, user: string, mark: string): Promise<number> {
  const id = await gateway.services.store.get(keys.userConversation(channel, user));
  const entries = await redis().xrange(keys.inbox, `(${mark}`, '+');
  return entries.filter(([, fields]) => fields[fields.indexOf('c') + 1] === id).length;
}

async function threadOf(channel: PublicChannel, user: string): Promise<Message[]> {
  const id = await gateway.services.store.get(keys.userConversation(channel, user));
  return id ? (await gateway.services.store.readMessagesAfter(id, undefined, 50)).messages : [];
}

/** Posts the same delivery `times` times at once and returns the statuses. */
async function deliver(times: number, send: () => Promise<Response>): Promise<number[]> {
  return Promise.all(Array.from({ length: times }, async () => (await send()).status));
}

function metaPost(path: string, secret: string, payload: unknown): () => Promise<Response> {
  const bytes = JSON.stringify(payload);
  return () => fetch(`${gateway.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': hubSignature(secret, bytes) }, body: bytes });
}

test('Twilio SMS: stored once (redacted) with its inbox entry, however often it is delivered', async () => {
  const from = `+1555${uniqueDigits(7).slice(0, 7)}`;
  const params: Record<string, string> = { ...fixture<Record<string, string>>('twilio/inbound-sms.json'), From: from, MessageSid: `SM${randomUUID().replace(/-/g, '')}`, Body: `my card is ${CARD}` };
  const signature = twilio.getExpectedTwilioSignature(TEST_SECRETS.TWILIO_AUTH_TOKEN, `${PUBLIC_URL}/webhooks/twilio`, params);
  const body = new URLSearchParams(params).toString();
  const mark = await inboxMark();
  const statuses = await deliver(10, () => fetch(`${gateway.url}/webhooks/twilio`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature }, body }));
  expect(statuses).toEqual(Array(10).fill(200));
  const thread = await threadOf('sms', from);
  expect(thread).toHaveLength(1);
  expect(thread[0]).toMatchObject({ author: 'customer', channel: 'sms', redacted: true });
  expect(thread[0]!.text).not.toContain('4111 1111');
  expect(await inboxEntriesOf('sms', from, mark)).toBe(1);

  // A bad signature stores nothing.
  const forged = await fetch(`${gateway.url}/webhooks/twilio`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'AAAA' }, body: new URLSearchParams({ ...params, MessageSid: 'SMforged' }).toString() });
  expect(forged.status).toBe(401);
  expect(await threadOf('sms', from)).toHaveLength(1);
});

test('Messenger: a batch is stored in order, once, each with its inbox entry', async () => {
  const psid = uniqueDigits(16);
  const payload = clone(fixture<{ entry: Array<{ messaging: Array<{ sender: { id: string }; message: { mid: string; text: string } }> }> }>('messenger/message-text.json'));
  const template = payload.entry[0]!.messaging[0]!;
  payload.entry[0]!.messaging = ['first', 'second', 'third'].map((text) => ({ ...clone(template), sender: { id: psid }, message: { mid: `mid.${randomUUID()}`, text } }));
  const mark = await inboxMark();
  expect(await deliver(3, metaPost('/webhooks/messenger', TEST_SECRETS.MESSENGER_APP_SECRET, payload))).toEqual([200, 200, 200]);
  expect((await threadOf('messenger', psid)).map((m) => m.text)).toEqual(['first', 'second', 'third']);
  expect(await inboxEntriesOf('messenger', psid, mark)).toBe(3);
});

test('WhatsApp Cloud API: stored once with its inbox entry; a wrong signature stores nothing', async () => {
  const waId = `1555${uniqueDigits(7).slice(0, 7)}`;
  const payload = clone(fixture<{ entry: Array<{ changes: Array<{ value: { contacts: Array<{ wa_id: string }>; messages: Array<{ from: string; id: string }> } }> }> }>('whatsapp/message-text.json'));
  const value = payload.entry[0]!.changes[0]!.value;
  value.contacts[0]!.wa_id = waId;
  value.messages[0]!.from = waId;
  value.messages[0]!.id = `wamid.${randomUUID()}`;
  expect(await deliver(1, metaPost('/webhooks/whatsapp', 'not-the-app-secret', payload))).toEqual([401]);
  expect(await threadOf('whatsapp', `+${waId}`)).toEqual([]);
  const mark = await inboxMark();
  expect(await deliver(2, metaPost('/webhooks/whatsapp', TEST_SECRETS.WHATSAPP_APP_SECRET, payload))).toEqual([200, 200]);
  expect((await threadOf('whatsapp', `+${waId}`)).map((m) => m.text)).toEqual(['Does it come in another color?']);
  expect(await inboxEntriesOf('whatsapp', `+${waId}`, mark)).toBe(1);
});
