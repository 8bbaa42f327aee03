/**
 * The inbox → `inbound` job hand-over on a real Redis and real BullMQ:
 * the append script records a new message (never a duplicate) in the inbox
 * atomically with the message, and InboxRelay turns each entry into exactly
 * one job, including entries a relay read and then died on.
 *
 * The inbox key is global, so this file uses a Redis database of its own.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { INBOX_GROUP, InboxRelay } from '../../src/jobs/inbox-relay';
import type { BullJobQueue } from '../../src/jobs/bullmq.queue';
import type { InboundJob } from '../../src/ingest';
import { inboundJob } from '../../src/ingest';
import { silentLogger } from '../../src/ops/logger';
import { keys } from '../../src/store/keys';
import { RedisStore } from '../../src/store/redis.store';
import { TextCipher } from '../../src/store/text-cipher';
import { bullQueue, eventually, redisUrl, uniquePrefix } from './support/bull';

const DB = 7;
const url = () => `${redisUrl()}/${DB}`;

describe('InboxRelay', () => {
  let store: RedisStore;
  let raw: Redis;
  const closers: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    store = await RedisStore.connect(url(), { cipher: new TextCipher([{ id: 't', key: randomBytes(32) }]), threadRetentionDays: 1 });
    raw = new Redis(url());
  });
  beforeEach(async () => {
    await raw.flushdb();
  });
  afterEach(async () => {
    while (closers.length > 0) await closers.pop()!();
  });
  afterAll(async () => {
    await store.close();
    raw.disconnect();
  });

  async function worker(): Promise<{ queue: BullJobQueue; handled: InboundJob[] }> {
    const queue = await bullQueue(uniquePrefix());
    const handled: InboundJob[] = [];
    queue.process<InboundJob>('inbound', async (data) => {
      handled.push(data);
    });
    await queue.start();
    closers.push(() => queue.close());
    return { queue, handled };
  }

  async function relay(queue: BullJobQueue, claimIdleMs = 30_000, forgetAfterMs?: number): Promise<InboxRelay> {
    const r = new InboxRelay(url(), queue, silentLogger(), { claimIdleMs, blockMs: 100, ...(forgetAfterMs === undefined ? {} : { forgetAfterMs }) });
    await r.start();
    closers.unshift(() => r.close()); // closed before its queue
    return r;
  }

  it('records a new message in the inbox with the append (a duplicate adds nothing) and relays it into one job', async () => {
    const { conversation } = await store.openConversation('sms', '+15550001000');
    const draft = { author: 'customer' as const, channel: 'sms' as const, text: 'hello' };
    const first = await store.appendMessage(conversation.id, draft, { dedupeKey: 'sms:SM1', inbox: true });
    const again = await store.appendMessage(conversation.id, draft, { dedupeKey: 'sms:SM1', inbox: true });
    await store.appendMessage(conversation.id, { ...draft, author: 'advisor' }, {}); // not an inbound message: no entry
    expect(again).toMatchObject({ duplicate: true, message: { id: first.message.id } });
    expect(await raw.xlen(keys.inbox)).toBe(1);

    const { queue, handled } = await worker();
    const live = await relay(queue);
    await eventually(() => handled.length === 1);
    expect(handled).toEqual([{ conversationId: conversation.id, messageId: first.message.id }]);
    await eventually(async () => (await raw.xlen(keys.inbox)) === 0); // acknowledged and deleted
    expect(await live.backlog()).toBe(0);
    expect(await queue.counts('inbound')).toMatchObject({ completed: 1 });
  });

  it('takes over what a relay read and died on, and a job the dead relay already added still runs once', async () => {
    const { conversation } = await store.openConversation('sms', '+15550002000');
    const ids: string[] = [];
    for (const n of [1, 2, 3]) {
      const { message } = await store.appendMessage(conversation.id, { author: 'customer', channel: 'sms', text: `m${n}` }, { dedupeKey: `sms:SM${n}`, inbox: true });
      ids.push(message.id);
    }
    const { queue, handled } = await worker();

    // The dead relay: it joined the group, read all three entries, added the first job, then was killed before acknowledging.
    await raw.call('XGROUP', 'CREATE', keys.inbox, INBOX_GROUP, '0', 'MKSTREAM');
    const read = await raw.call('XREADGROUP', 'GROUP', INBOX_GROUP, 'dead-node', 'COUNT', '10', 'STREAMS', keys.inbox, '>');
    expect(JSON.stringify(read)).toContain(ids[2]);
    const job = inboundJob(conversation.id, ids[0]!);
    await queue.add('inbound', job.data, job.options);
    expect(await raw.xpending(keys.inbox, INBOX_GROUP)).toEqual([3, expect.any(String), expect.any(String), [['dead-node', '3']]]);

    await relay(queue, 200);
    await eventually(async () => (await queue.counts('inbound')).completed === 3);
    await eventually(async () => (await raw.xlen(keys.inbox)) === 0);
    expect(handled.map((h) => h.messageId).sort()).toEqual([...ids].sort());
    expect((await raw.xpending(keys.inbox, INBOX_GROUP))[0]).toBe(0);
  });

  it('two relays on one inbox hand each entry over once', async () => {
    const { conversation } = await store.openConversation('sms', '+15550003000');
    const { queue, handled } = await worker();
    await relay(queue);
    await relay(queue);
    const ids: string[] = [];
    for (let n = 0; n < 40; n++) {
      const { message } = await store.appendMessage(conversation.id, { author: 'customer', channel: 'sms', text: `m${n}` }, { dedupeKey: `sms:P${n}`, inbox: true });
      ids.push(message.id);
    }
    await eventually(async () => (await queue.counts('inbound')).completed === 40);
    expect(handled.map((h) => h.messageId).sort()).toEqual([...ids].sort());
    await eventually(async () => (await raw.xlen(keys.inbox)) === 0);
  });

  it('forgets the names of relays that are gone with nothing pending, and keeps those with pending entries', async () => {
    const { conversation } = await store.openConversation('sms', '+15550004000');
    await store.appendMessage(conversation.id, { author: 'customer', channel: 'sms', text: 'x' }, { dedupeKey: 'sms:G1', inbox: true });
    await raw.call('XGROUP', 'CREATE', keys.inbox, INBOX_GROUP, '0', 'MKSTREAM');
    await raw.call('XGROUP', 'CREATECONSUMER', keys.inbox, INBOX_GROUP, 'gone-idle');
    await raw.call('XREADGROUP', 'GROUP', INBOX_GROUP, 'gone-with-work', 'COUNT', '10', 'STREAMS', keys.inbox, '>');
    const names = async () => JSON.stringify(await raw.call('XINFO', 'CONSUMERS', keys.inbox, INBOX_GROUP));
    expect(await names()).toContain('gone-idle');

    const { queue } = await worker();
    await relay(queue, 60_000, 0); // no claim yet: the pending entry stays with its dead relay
    const after = await names();
    expect(after).not.toContain('gone-idle');
    expect(after).toContain('gone-with-work');
  });
});
