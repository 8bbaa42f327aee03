import { MemoryStore } from '../../src/store/memory.store';
import { TextCipher } from '../../src/store/text-cipher';
import { storeContract } from './store.contract';

storeContract(
  'memory',
  async () => {
    // The wall clock, moved on by expireConversation: a retention of 1 day,
    // so a jump of a day expires threads and leaves 7-day dedupe records.
    let skipped = 0;
    const store = new MemoryStore({ cipher: TextCipher.ephemeral(), threadRetentionDays: 1, now: () => Date.now() + skipped });
    const expireConversation = async () => {
      skipped += 86_400_000 + 1000;
    };
    return { store, peer: store, expireConversation };
  },
  async (h) => h.store.close(),
);

describe('memory store specifics', () => {
  test('threads expire THREAD_RETENTION_DAYS after their last message', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const store = new MemoryStore({ cipher: TextCipher.ephemeral(), threadRetentionDays: 1, now: () => now });
    const { conversation } = await store.openConversation('sms', '+15550001111');
    await store.appendMessage(conversation.id, { author: 'customer', channel: 'sms', text: 'hello' });
    now += 23 * 3600_000;
    expect((await store.readLatestMessages(conversation.id, 10)).messages).toHaveLength(1);
    now += 2 * 3600_000;
    expect(await store.getConversation(conversation.id)).toBeUndefined();
    expect((await store.readLatestMessages(conversation.id, 10)).messages).toHaveLength(0);
  });

  test('a closed store answers GW_ERR_STORE_UNAVAILABLE', async () => {
    const store = new MemoryStore({ cipher: TextCipher.ephemeral(), threadRetentionDays: 1 });
    await store.close();
    await expect(store.ping()).rejects.toMatchObject({ code: 'GW_ERR_STORE_UNAVAILABLE' });
    await expect(store.openConversation('sms', '+1')).rejects.toMatchObject({ code: 'GW_ERR_STORE_UNAVAILABLE' });
  });
});
