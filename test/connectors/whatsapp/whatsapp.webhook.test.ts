/**
 * WhatsApp Cloud API webhook: Meta's signature over the exact bytes,
 * documented payloads (test/fixtures/whatsapp), the real Redis store.
 */
import { createWhatsAppConnector } from '../../../connectors/whatsapp/whatsapp.connector';
import type { Store } from '../../../src/store/store';
import { clone, fixture } from '../support/fixtures';
import { buildParts, redisStore, startApp, TEST_SECRETS, testCipher, threadOf, uniqueDigits, type App, type Parts } from '../support/gateway-parts';
import { challenge, hubSignature, postMeta } from '../support/meta';

const SECRET = TEST_SECRETS.WHATSAPP_APP_SECRET;
const PATH = '/webhooks/whatsapp';

interface WaMessage {
  from: string;
  id: string;
  timestamp: string;
  type: string;
  text?: { body: string };
}
interface Value {
  messages?: WaMessage[];
  statuses?: unknown[];
  contacts?: Array<{ wa_id: string }>;
}
interface Delivery {
  object: string;
  entry: Array<{ id: string; changes: Array<{ field: string; value: Value }> }>;
}

function textMessage(waId: string, body: string): Delivery {
  const delivery = clone(fixture<Delivery>('whatsapp/message-text.json'));
  const value = delivery.entry[0]!.changes[0]!.value;
  value.contacts![0]!.wa_id = waId;
  value.messages = [{ ...value.messages![0]!, from: waId, id: `wamid.${uniqueDigits(24)}=`, text: { body } }];
  return delivery;
}

describe('WhatsApp Cloud API webhook (/webhooks/whatsapp)', () => {
  let parts: Parts;
  let app: App;

  beforeAll(async () => {
    parts = await buildParts();
    app = await startApp([createWhatsAppConnector(parts.ctx)]);
  });
  afterAll(async () => {
    await app.close();
    await parts.store.close();
  });

  it('stores the documented text message once, for the E.164 number with its +', async () => {
    const waId = `1555${uniqueDigits(7)}`;
    const payload = clone(fixture<Delivery>('whatsapp/message-text.json'));
    payload.entry[0]!.changes[0]!.value.messages![0]!.from = waId;
    payload.entry[0]!.changes[0]!.value.messages![0]!.id = `wamid.${uniqueDigits(30)}`;
    expect((await postMeta(app, PATH, JSON.stringify(payload), SECRET)).status).toBe(200);
    const thread = await threadOf(parts.store, 'whatsapp', `+${waId}`);
    expect(thread.map((m) => [m.author, m.channel, m.text])).toEqual([['customer', 'whatsapp', 'Does it come in another color?']]);
  });

  it('refuses a missing or wrong signature with 401 and stores nothing', async () => {
    const waId = `1555${uniqueDigits(7)}`;
    const bytes = JSON.stringify(textMessage(waId, 'unsigned'));
    for (const signature of [null, hubSignature(TEST_SECRETS.MESSENGER_APP_SECRET, bytes), hubSignature(SECRET, `${bytes} `)]) {
      const res = await postMeta(app, PATH, bytes, SECRET, signature);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ code: 'GW_ERR_WEBHOOK_SIGNATURE' });
    }
    expect(await threadOf(parts.store, 'whatsapp', `+${waId}`)).toEqual([]);
  });

  it('one entry for a redelivery: twice in a row, and ten deliveries in parallel', async () => {
    const waId = `1555${uniqueDigits(7)}`;
    const bytes = JSON.stringify(textMessage(waId, 'again'));
    for (let i = 0; i < 2; i++) expect((await postMeta(app, PATH, bytes, SECRET)).status).toBe(200);
    expect(await threadOf(parts.store, 'whatsapp', `+${waId}`)).toHaveLength(1);

    const other = `1555${uniqueDigits(7)}`;
    const parallel = JSON.stringify(textMessage(other, 'ten at once'));
    const answers = await Promise.all(Array.from({ length: 10 }, () => postMeta(app, PATH, parallel, SECRET)));
    expect(answers.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect((await threadOf(parts.store, 'whatsapp', `+${other}`)).map((m) => m.text)).toEqual(['ten at once']);
  });

  it('a batch of three messages over two changes lands in order; statuses and reactions are not messages', async () => {
    const waId = `1555${uniqueDigits(7)}`;
    const batch = textMessage(waId, 'first');
    const value = batch.entry[0]!.changes[0]!.value;
    value.messages!.push(textMessage(waId, 'second').entry[0]!.changes[0]!.value.messages![0]!);
    value.messages!.push({ from: waId, id: `wamid.${uniqueDigits(24)}`, timestamp: '1749416390', type: 'reaction' });
    value.statuses = clone(fixture<Delivery>('whatsapp/status-delivered.json')).entry[0]!.changes[0]!.value.statuses;
    batch.entry.push({ id: batch.entry[0]!.id, changes: [{ field: 'messages', value: textMessage(waId, 'third').entry[0]!.changes[0]!.value }] });
    expect((await postMeta(app, PATH, JSON.stringify(batch), SECRET)).status).toBe(200);
    expect((await threadOf(parts.store, 'whatsapp', `+${waId}`)).map((m) => m.text)).toEqual(['first', 'second', 'third']);
  });

  it('an image becomes a placeholder with its caption', async () => {
    const waId = `1555${uniqueDigits(7)}`;
    const payload = clone(fixture<Delivery>('whatsapp/message-image.json'));
    payload.entry[0]!.changes[0]!.value.messages![0]!.from = waId;
    payload.entry[0]!.changes[0]!.value.messages![0]!.id = `wamid.${uniqueDigits(24)}`;
    expect((await postMeta(app, PATH, JSON.stringify(payload), SECRET)).status).toBe(200);
    expect((await threadOf(parts.store, 'whatsapp', `+${waId}`)).map((m) => m.text)).toEqual(['[image] my card']);
  });

  it('answers the subscription challenge with the right verify token only', async () => {
    const ok = await challenge(app, PATH, { 'hub.mode': 'subscribe', 'hub.verify_token': TEST_SECRETS.WHATSAPP_VERIFY_TOKEN, 'hub.challenge': 'abc123' });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('abc123');
    const refused = await challenge(app, PATH, { 'hub.mode': 'subscribe', 'hub.verify_token': TEST_SECRETS.MESSENGER_VERIFY_TOKEN, 'hub.challenge': 'abc123' });
    expect(refused.status).toBe(403);
  });
});

describe('WhatsApp webhook when storing fails', () => {
  it('answers 503 so Meta redelivers', async () => {
    const cipher = testCipher();
    const broken: Store = await redisStore(cipher);
    const parts = await buildParts({}, broken, cipher);
    const app = await startApp([createWhatsAppConnector(parts.ctx)]);
    await broken.close();
    try {
      const res = await postMeta(app, PATH, JSON.stringify(textMessage(`1555${uniqueDigits(7)}`, 'lost?')), SECRET);
      expect(res.status).toBe(503);
    } finally {
      await app.close();
    }
  });
});
