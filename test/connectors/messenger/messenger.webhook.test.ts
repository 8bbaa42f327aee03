/**
 * Messenger webhook with Meta's real signature scheme over the exact raw
 * bytes, documented payloads (test/fixtures/messenger), the real Redis store.
 */
import { createMessengerConnector } from '../../../connectors/messenger/messenger.connector';
import { MemoryStore } from '../../../src/store/memory.store';
import type { Store } from '../../../src/store/store';
import { clone, fixture } from '../support/fixtures';
import { buildParts, redisStore, startApp, TEST_SECRETS, testCipher, threadOf, uniqueDigits, type App, type Parts } from '../support/gateway-parts';
import { challenge, hubSignature, postMeta } from '../support/meta';

const SECRET = TEST_SECRETS.MESSENGER_APP_SECRET;
const PATH = '/webhooks/messenger';

interface MessagingEvent {
  sender: { id: string };
  recipient: { id: string };
  timestamp?: number;
  message?: { mid: string; text?: string };
}
interface Delivery {
  object: string;
  entry: Array<{ id: string; time: number; messaging: MessagingEvent[] }>;
}

/** The documented text message, from a fresh PSID with a fresh mid. */
function textMessage(psid: string, text: string, mid = `m_${uniqueDigits(20)}`): Delivery {
  const delivery = clone(fixture<Delivery>('messenger/message-text.json'));
  const event = delivery.entry[0]!.messaging[0]!;
  event.sender.id = psid;
  event.message = { mid, text };
  return delivery;
}

describe('Messenger webhook (/webhooks/messenger)', () => {
  let parts: Parts;
  let app: App;

  beforeAll(async () => {
    parts = await buildParts();
    app = await startApp([createMessengerConnector(parts.ctx)]);
  });
  afterAll(async () => {
    await app.close();
    await parts.store.close();
  });

  it('stores the documented text message once when the signature is valid', async () => {
    const psid = uniqueDigits(16);
    const payload = clone(fixture<Delivery>('messenger/message-text.json'));
    payload.entry[0]!.messaging[0]!.sender.id = psid;
    payload.entry[0]!.messaging[0]!.message!.mid = `mid.${uniqueDigits(13)}:41d102a3e1ae206a38`;
    const res = await postMeta(app, PATH, JSON.stringify(payload), SECRET);
    expect(res.status).toBe(200);
    const thread = await threadOf(parts.store, 'messenger', psid);
    expect(thread.map((m) => [m.author, m.channel, m.text])).toEqual([['customer', 'messenger', 'hello, world!']]);
  });

  it('verifies the exact bytes: pretty-printed JSON signed as sent is fine, the same JSON signed compactly is not', async () => {
    const psid = uniqueDigits(16);
    const pretty = JSON.stringify(textMessage(psid, 'spaced'), null, 2);
    const compactSignature = hubSignature(SECRET, JSON.stringify(JSON.parse(pretty)));
    expect((await postMeta(app, PATH, pretty, SECRET, compactSignature)).status).toBe(401);
    expect((await postMeta(app, PATH, pretty, SECRET)).status).toBe(200);
    expect(await threadOf(parts.store, 'messenger', psid)).toHaveLength(1);
  });

  it('refuses a missing or wrong signature with 401 problem JSON and stores nothing', async () => {
    const psid = uniqueDigits(16);
    const bytes = JSON.stringify(textMessage(psid, 'sneaky'));
    for (const signature of [null, '', hubSignature('not-our-secret', bytes), hubSignature(SECRET, bytes).replace('sha256=', 'sha1='), 'sha256=00']) {
      const res = await postMeta(app, PATH, bytes, SECRET, signature);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ status: 401, code: 'GW_ERR_WEBHOOK_SIGNATURE' });
    }
    expect(await threadOf(parts.store, 'messenger', psid)).toEqual([]);
  });

  it('one entry for a redelivery: twice in a row, and ten deliveries in parallel', async () => {
    const psid = uniqueDigits(16);
    const bytes = JSON.stringify(textMessage(psid, 'twice'));
    for (let i = 0; i < 2; i++) expect((await postMeta(app, PATH, bytes, SECRET)).status).toBe(200);
    expect(await threadOf(parts.store, 'messenger', psid)).toHaveLength(1);

    const other = uniqueDigits(16);
    const parallel = JSON.stringify(textMessage(other, 'ten at once'));
    const answers = await Promise.all(Array.from({ length: 10 }, () => postMeta(app, PATH, parallel, SECRET)));
    expect(answers.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect((await threadOf(parts.store, 'messenger', other)).map((m) => m.text)).toEqual(['ten at once']);
  });

  it('a batched delivery of three messages (two entries) lands as three entries in order; echoes and deliveries are not messages', async () => {
    const psid = uniqueDigits(16);
    const batch = textMessage(psid, 'first');
    const echo = clone(fixture<Delivery>('messenger/message-echo.json')).entry[0]!.messaging[0]!;
    const delivered = clone(fixture<Delivery>('messenger/message-delivery.json')).entry[0]!.messaging[0]!;
    batch.entry[0]!.messaging.push(echo, textMessage(psid, 'second').entry[0]!.messaging[0]!, delivered);
    batch.entry.push({ id: batch.entry[0]!.id, time: Date.now(), messaging: [textMessage(psid, 'third').entry[0]!.messaging[0]!] });
    const res = await postMeta(app, PATH, JSON.stringify(batch), SECRET);
    expect(res.status).toBe(200);
    expect((await threadOf(parts.store, 'messenger', psid)).map((m) => m.text)).toEqual(['first', 'second', 'third']);
  });

  it('an attachment becomes a placeholder naming its type', async () => {
    const psid = uniqueDigits(16);
    const payload = clone(fixture<Delivery>('messenger/message-attachment.json'));
    payload.entry[0]!.messaging[0]!.sender.id = psid;
    expect((await postMeta(app, PATH, JSON.stringify(payload), SECRET)).status).toBe(200);
    expect((await threadOf(parts.store, 'messenger', psid)).map((m) => m.text)).toEqual(['[image]']);
  });

  it('a signed body that is not JSON is a 400 (a redelivery would not help)', async () => {
    const res = await postMeta(app, PATH, 'not json', SECRET);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'GW_ERR_WEBHOOK_PAYLOAD' });
  });

  it('answers the subscription challenge with the right verify token only', async () => {
    const ok = await challenge(app, PATH, { 'hub.mode': 'subscribe', 'hub.verify_token': TEST_SECRETS.MESSENGER_VERIFY_TOKEN, 'hub.challenge': '1158201444' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await ok.text()).toBe('1158201444');
    const refusals: Array<Record<string, string>> = [
      { 'hub.mode': 'subscribe', 'hub.verify_token': 'wrong', 'hub.challenge': '1158201444' },
      { 'hub.mode': 'unsubscribe', 'hub.verify_token': TEST_SECRETS.MESSENGER_VERIFY_TOKEN, 'hub.challenge': '1158201444' },
      { 'hub.mode': 'subscribe', 'hub.challenge': '1158201444' },
    ];
    for (const query of refusals) {
      const refused = await challenge(app, PATH, query);
      expect(refused.status).toBe(403);
      expect(await refused.json()).toMatchObject({ code: 'GW_ERR_WEBHOOK_VERIFY_TOKEN' });
    }
  });

  it("slows down wrong verify tokens per client network; Meta's right token is never refused", async () => {
    // Its own store: the counters of this test must not reach the other tests' client network.
    const own = await buildParts({}, new MemoryStore({ cipher: testCipher(), threadRetentionDays: 1 }));
    const ownApp = await startApp([createMessengerConnector(own.ctx)]);
    try {
      const guess = { 'hub.mode': 'subscribe', 'hub.verify_token': 'a-guess', 'hub.challenge': '42' };
      const statuses: number[] = [];
      for (let i = 0; i < 11; i++) statuses.push((await challenge(ownApp, PATH, guess)).status);
      expect(statuses).toEqual([...Array<number>(10).fill(403), 429]);
      const right = await challenge(ownApp, PATH, { ...guess, 'hub.verify_token': TEST_SECRETS.MESSENGER_VERIFY_TOKEN });
      expect(right.status).toBe(200);
      expect(await right.text()).toBe('42');
    } finally {
      await ownApp.close();
    }
  });
});

describe('Messenger webhook when storing fails', () => {
  it('answers 503 so Meta redelivers', async () => {
    const cipher = testCipher();
    const broken: Store = await redisStore(cipher);
    const parts = await buildParts({}, broken, cipher);
    const app = await startApp([createMessengerConnector(parts.ctx)]);
    await broken.close();
    try {
      const res = await postMeta(app, PATH, JSON.stringify(textMessage(uniqueDigits(16), 'lost?')), SECRET);
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ code: 'GW_ERR_STORE_UNAVAILABLE' });
    } finally {
      await app.close();
    }
  });
});
