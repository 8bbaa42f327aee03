/**
 * Ingest's conversation hint: a repeat sender skips the conversation reads,
 * but the store stays the authority: once the conversation is closed (or gone)
 * the next message opens a new one, exactly as without the hint.
 *
 * And a platform's redelivery is one entry, whatever happened to the
 * conversation of its first delivery (closed, expired) and whichever node
 * receives it: on the memory store and on Redis.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { JobQueue } from '../../src/jobs/job-queue';
import { ConversationEvents, type ConversationChange } from '../../src/conversation-events';
import { createIngest, type IngestResult, type IngestStored } from '../../src/ingest';
import type { InboundMessage } from '../../src/messages';
import { silentLogger } from '../../src/ops/logger';
import { keys } from '../../src/store/keys';
import { MemoryStore } from '../../src/store/memory.store';
import { RedisStore } from '../../src/store/redis.store';
import type { Store } from '../../src/store/store';
import { TextCipher } from '../../src/store/text-cipher';

/** Records every `add`, as the queue would take it (a real queue ignores a job id it already has). */
function recordingQueue(): { queue: JobQueue; added: Array<{ data: object; jobId?: string }> } {
  const added: Array<{ data: object; jobId?: string }> = [];
  const queue: JobQueue = {
    add: async (_name, data, options) => {
      added.push({ data, jobId: options?.jobId });
    },
    process: () => undefined,
    start: async () => undefined,
    close: async () => undefined,
  };
  return { queue, added };
}

function parts(store: Store = new MemoryStore({ cipher: TextCipher.ephemeral(), threadRetentionDays: 1 })) {
  const { queue, added: jobs } = recordingQueue();
  const events = new ConversationEvents();
  const seen: ConversationChange[] = [];
  events.subscribe((change) => seen.push(change));
  const opens = jest.spyOn(store, 'openConversation');
  const ingest = createIngest({ store, jobs: queue, events, redact: (text) => ({ text, redacted: false }), logger: silentLogger() });
  return { store, jobs, seen, opens, ingest, events };
}

function stored(result: IngestResult): IngestStored {
  if (result.duplicate) throw new Error('expected a stored message, got a duplicate');
  return result;
}

const sms = (id: string, text = 'hello'): InboundMessage => ({ channel: 'sms', externalUserId: '+15550001111', platformMessageId: id, text });

describe('ingest', () => {
  it('reuses the conversation of a repeat sender without opening it again, and enqueues every message', async () => {
    const { ingest, opens, jobs, seen } = parts();
    const first = stored(await ingest(sms('SM1')));
    const second = stored(await ingest(sms('SM2')));
    expect(second.conversation.id).toBe(first.conversation.id);
    expect(second.conversation.lastMessageAt).toBe(second.message.createdAt);
    expect(opens).toHaveBeenCalledTimes(1);
    const again = await ingest(sms('SM2'));
    expect(again).toMatchObject({ duplicate: true, message: { id: second.message.id } });
    expect(jobs.map((j) => j.jobId)).toEqual([
      `in_${first.conversation.id}_${first.message.id}`,
      `in_${first.conversation.id}_${second.message.id}`,
      `in_${first.conversation.id}_${second.message.id}`,
    ]);
    expect(seen.map((c) => c.event)).toEqual(['created', 'message', 'message']);
  });

  it('a closed conversation is not appended to: the next message opens a new one', async () => {
    const { ingest, store, opens, seen } = parts();
    const first = stored(await ingest(sms('SM1')));
    await store.updateConversation(first.conversation.id, { status: 'closed' });
    const next = stored(await ingest(sms('SM2', 'are you there?')));
    expect(next.conversation.id).not.toBe(first.conversation.id);
    expect(next.conversation.status).toBe('open');
    expect(opens).toHaveBeenCalledTimes(2);
    expect((await store.readLatestMessages(first.conversation.id, 10)).messages.map((m) => m.text)).toEqual(['hello']);
    expect((await store.readLatestMessages(next.conversation.id, 10)).messages.map((m) => m.text)).toEqual(['are you there?']);
    expect(seen.filter((c) => c.event === 'created')).toHaveLength(2);
    // And the new one is the hint from now on.
    expect((await ingest(sms('SM3'))).conversation.id).toBe(next.conversation.id);
    expect(opens).toHaveBeenCalledTimes(2);
  });
});

/** One store under test, with what tells how many bot jobs a message got and how to make a conversation expire. */
interface StoreUnderTest {
  store: Store;
  /** A second client of the same store (another node); the memory store is its own. */
  peer: Store;
  /** Bot jobs handed over for these conversations, besides those `ingest` added to its queue (Redis: inbox entries). */
  handedOver(conversationIds: string[]): Promise<number>;
  /** Makes a conversation's records gone, as its retention does; 7-day dedupe records stay. */
  expire(conversationId: string): Promise<void>;
  close(): Promise<void>;
}

/** The inbox stream is global: this file's Redis cases use a database of their own. */
const REDIS_DB = 11;

const stores: Array<[string, () => Promise<StoreUnderTest>]> = [
  [
    'memory',
    async () => {
      let skipped = 0;
      const store = new MemoryStore({ cipher: TextCipher.ephemeral(), threadRetentionDays: 1, now: () => Date.now() + skipped });
      return {
        store,
        peer: store,
        handedOver: async () => 0,
        expire: async () => {
          skipped += 86_400_000 + 1000;
        },
        close: () => store.close(),
      };
    },
  ],
  [
    'redis',
    async () => {
      const url = `${process.env.TEST_REDIS_URL!}/${REDIS_DB}`;
      const cipher = TextCipher.ephemeral();
      const store = await RedisStore.connect(url, { cipher, threadRetentionDays: 1 });
      const peer = await RedisStore.connect(url, { cipher, threadRetentionDays: 1 });
      const raw = new Redis(url);
      await raw.flushdb();
      return {
        store,
        peer,
        handedOver: async (ids) => {
          const entries = (await raw.xrange(keys.inbox, '-', '+')) as Array<[string, string[]]>;
          return entries.filter(([, fields]) => ids.includes(fields[fields.indexOf('c') + 1] ?? '')).length;
        },
        expire: async (id) => {
          const [channel, externalUserId] = await raw.hmget(keys.conversation(id), 'channel', 'externalUserId');
          await raw.del(keys.conversation(id), keys.thread(id), keys.delivery(id), keys.userConversation(channel ?? '', externalUserId ?? ''));
        },
        close: async () => {
          raw.disconnect();
          await store.close();
          await peer.close();
        },
      };
    },
  ],
];

describe.each(stores)('ingest on the %s store: a redelivery is one entry, whatever became of its conversation', (_name, setup) => {
  let s: StoreUnderTest;
  beforeAll(async () => {
    s = await setup();
  });
  afterAll(async () => {
    await s.close();
  });

  const whatsapp = (externalUserId: string, platformMessageId: string, text = 'transfer 500 to Bob'): InboundMessage => ({ channel: 'whatsapp', externalUserId, platformMessageId, text });
  const phone = () => `+1555${randomBytes(3).readUIntBE(0, 3).toString().padStart(8, '0')}`;

  /** Every entry of every conversation of the sender (the store keeps the ids of all of them). */
  async function everything(store: Store, externalUserId: string): Promise<{ conversationIds: string[]; texts: string[] }> {
    const conversationIds = await store.conversationIdsOfUser(externalUserId);
    const threads = await Promise.all(conversationIds.map((id) => store.readLatestMessages(id, 50)));
    return { conversationIds, texts: threads.flatMap((t) => t.messages.map((m) => m.text)) };
  }

  it('after its conversation was closed: a duplicate, no new conversation, no second job, on this node and on one that never saw the sender', async () => {
    const from = phone();
    const wamid = `wamid.${randomUUID()}`;
    const node = parts(s.store);
    const first = stored(await node.ingest(whatsapp(from, wamid)));
    await s.store.updateConversation(first.conversation.id, { status: 'closed' });

    // The node that stored it (its hint points at the closed conversation).
    const again = await node.ingest(whatsapp(from, wamid));
    expect(again).toMatchObject({ duplicate: true, expired: false, conversation: { id: first.conversation.id, status: 'closed' }, message: { id: first.message.id } });
    // Another node: no hint, the sender's pointer still names the closed conversation.
    const other = parts(s.peer);
    expect(await other.ingest(whatsapp(from, wamid))).toMatchObject({ duplicate: true, conversation: { id: first.conversation.id } });

    expect(await everything(s.store, from)).toEqual({ conversationIds: [first.conversation.id], texts: ['transfer 500 to Bob'] });
    expect(node.jobs.length + other.jobs.length + (await s.handedOver([first.conversation.id]))).toBe(1);
    expect(node.seen.map((c) => c.event)).toEqual(['created', 'message']);
    expect(other.seen).toEqual([]);
  });

  it('after the sender moved on to a new conversation: still a duplicate of the first, and the new conversation gets nothing', async () => {
    const from = phone();
    const wamid = `wamid.${randomUUID()}`;
    const node = parts(s.store);
    const first = stored(await node.ingest(whatsapp(from, wamid)));
    await s.store.updateConversation(first.conversation.id, { status: 'closed' });
    const next = stored(await node.ingest(whatsapp(from, `wamid.${randomUUID()}`, 'hello?')));
    expect(next.conversation.id).not.toBe(first.conversation.id);

    // This node aims the redelivery at the new, open conversation (its hint); another one at the first (the sender-wide record).
    expect(await node.ingest(whatsapp(from, wamid))).toMatchObject({ duplicate: true, conversation: { id: first.conversation.id, status: 'closed' } });
    const other = parts(s.peer);
    expect(await other.ingest(whatsapp(from, wamid))).toMatchObject({ duplicate: true, conversation: { id: first.conversation.id } });

    const all = await everything(s.store, from);
    expect(all.conversationIds.sort()).toEqual([first.conversation.id, next.conversation.id].sort());
    expect(all.texts.sort()).toEqual(['hello?', 'transfer 500 to Bob']);
    expect((await s.store.readLatestMessages(next.conversation.id, 10)).messages.map((m) => m.text)).toEqual(['hello?']);
    expect(node.jobs.length + other.jobs.length + (await s.handedOver([first.conversation.id, next.conversation.id]))).toBe(2);
    expect(other.seen).toEqual([]);
  });

  it("after its conversation's records expired (retention shorter than the 7-day dedupe): a duplicate, and nothing is opened", async () => {
    const from = phone();
    const wamid = `wamid.${randomUUID()}`;
    const node = parts(s.store);
    const first = stored(await node.ingest(whatsapp(from, wamid)));
    await s.expire(first.conversation.id);

    const other = parts(s.peer);
    for (const ingest of [node.ingest, other.ingest]) {
      const again = await ingest(whatsapp(from, wamid));
      if (!again.duplicate) throw new Error('the redelivery was stored again');
      expect(again).toMatchObject({ expired: true, conversation: { id: first.conversation.id, status: 'closed', channel: 'whatsapp', externalUserId: from } });
      expect(again.message).toBeUndefined();
    }
    expect(await everything(s.store, from)).toEqual({ conversationIds: [], texts: [] });
    expect(node.jobs.length + other.jobs.length + (await s.handedOver([first.conversation.id]))).toBe(1);
    expect([...node.seen, ...other.seen].map((c) => c.event)).toEqual(['created', 'message']);

    // A new message of the same sender is not held back: it opens a conversation.
    const fresh = stored(await node.ingest(whatsapp(from, `wamid.${randomUUID()}`, 'new day')));
    expect(await everything(s.store, from)).toEqual({ conversationIds: [fresh.conversation.id], texts: ['new day'] });
  });

  it('10 parallel deliveries of one message, half of them to a node without the hint, store it once', async () => {
    const from = phone();
    const wamid = `wamid.${randomUUID()}`;
    const hinted = parts(s.store);
    stored(await hinted.ingest(whatsapp(from, `wamid.${randomUUID()}`, 'first')));
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? hinted : parts(s.peer)).ingest(whatsapp(from, wamid, 'second'))));
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    expect((await everything(s.store, from)).texts).toEqual(['first', 'second']);
  });
});
