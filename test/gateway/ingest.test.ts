/**
 * Ingest's conversation hint: a repeat sender skips the conversation reads,
 * but the store stays the authority: once the conversation is closed (or gone)
 * the next message opens a new one, exactly as without the hint.
 */
import type { JobQueue } from '../../src/jobs/job-queue';
import { ConversationEvents, type ConversationChange } from '../../src/conversation-events';
import { createIngest } from '../../src/ingest';
import type { InboundMessage } from '../../src/messages';
import { silentLogger } from '../../src/ops/logger';
import { MemoryStore } from '../../src/store/memory.store';
import type { Store } from '../../src/store/store';
import { TextCipher } from '../../src/store/text-cipher';

function parts() {
  const store = new MemoryStore({ cipher: TextCipher.ephemeral(), threadRetentionDays: 1 });
  const jobs: Array<{ data: object; jobId?: string }> = [];
  const queue: JobQueue = {
    add: async (_name, data, options) => {
      jobs.push({ data, jobId: options?.jobId });
    },
    process: () => undefined,
    start: async () => undefined,
    close: async () => undefined,
  };
  const events = new ConversationEvents();
  const seen: ConversationChange[] = [];
  events.subscribe((change) => seen.push(change));
  const opens = jest.spyOn(store, 'openConversation');
  const ingest = createIngest({ store: store as Store, jobs: queue, events, redact: (text) => ({ text, redacted: false }), logger: silentLogger() });
  return { store, jobs, seen, opens, ingest };
}

const sms = (id: string, text = 'hello'): InboundMessage => ({ channel: 'sms', externalUserId: '+15550001111', platformMessageId: id, text });

describe('ingest', () => {
  it('reuses the conversation of a repeat sender without opening it again, and enqueues every message', async () => {
    const { ingest, opens, jobs, seen } = parts();
    const first = await ingest(sms('SM1'));
    const second = await ingest(sms('SM2'));
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
    const first = await ingest(sms('SM1'));
    await store.updateConversation(first.conversation.id, { status: 'closed' });
    const next = await ingest(sms('SM2', 'are you there?'));
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
