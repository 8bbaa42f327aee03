import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisStore } from '../../src/store/redis.store';
import { keys } from '../../src/store/keys';
import { TextCipher } from '../../src/store/text-cipher';
import { startRedisServer } from '../support/redis-server';
import { storeContract } from './store.contract';

const url = () => process.env.TEST_REDIS_URL!;

let contractAdmin: Redis | undefined;

storeContract(
  'redis',
  async () => {
    const cipher = TextCipher.ephemeral();
    const store = await RedisStore.connect(url(), { cipher, threadRetentionDays: 90 });
    const peer = await RedisStore.connect(url(), { cipher, threadRetentionDays: 90 });
    const admin = new Redis(url());
    contractAdmin = admin;
    // What the conversation's TTL does when it runs out: its hash, thread and
    // deliveries go, and the user's pointer with them (it lives as long as the conversation).
    const expireConversation = async (id: string) => {
      const [channel, externalUserId] = await admin.hmget(keys.conversation(id), 'channel', 'externalUserId');
      await admin.del(keys.conversation(id), keys.thread(id), keys.delivery(id));
      if (channel && externalUserId && (await admin.get(keys.userConversation(channel, externalUserId))) === id) await admin.del(keys.userConversation(channel, externalUserId));
    };
    return { store, peer, expireConversation };
  },
  async (h) => {
    await h.store.close();
    await h.peer.close();
    contractAdmin?.disconnect();
  },
);

describe('redis store specifics', () => {
  const oldKey = { id: 'k2025', key: randomBytes(32) };
  const newKey = { id: 'k2026', key: randomBytes(32) };

  test("an append keeps the user's pointer to the conversation alive as long as the conversation (a hint cache relies on it)", async () => {
    const store = await RedisStore.connect(url(), { cipher: new TextCipher([newKey]), threadRetentionDays: 90 });
    const raw = new Redis(url());
    try {
      const phone = `+1555${randomBytes(3).readUIntBE(0, 3)}`;
      const { conversation } = await store.openConversation('sms', phone);
      await raw.expire(keys.userConversation('sms', phone), 5);
      await store.appendMessage(conversation.id, { author: 'customer', channel: 'sms', text: 'still here' });
      expect(await raw.ttl(keys.userConversation('sms', phone))).toBeGreaterThan(89 * 86_400);
      // A pointer that moved on (to a newer conversation) is left alone.
      await raw.set(keys.userConversation('sms', phone), 'another-conversation', 'EX', 5);
      await store.appendMessage(conversation.id, { author: 'advisor', channel: 'sms', text: 'late note' });
      expect(await raw.get(keys.userConversation('sms', phone))).toBe('another-conversation');
      expect(await raw.ttl(keys.userConversation('sms', phone))).toBeLessThanOrEqual(5);
    } finally {
      raw.disconnect();
      await store.close();
    }
  });

  test('appendIfSecure answers how many subscribe to a presence channel, in the same step, for a new message only', async () => {
    const store = await RedisStore.connect(url(), { cipher: new TextCipher([newKey]), threadRetentionDays: 90 });
    const subscriber = new Redis(url());
    try {
      const { conversation } = await store.openConversation('sms', `+1555${randomBytes(3).readUIntBE(0, 3)}`);
      const sessionId = `s-${randomBytes(6).toString('hex')}`;
      await store.set(keys.session(sessionId), '{}', 60);
      await store.addToSet(keys.conversationSessions(conversation.id), sessionId, 60);
      const channel = `pg:sio-test-presence#/secure#conv:${conversation.id}#`;
      const draft = { author: 'advisor', channel: 'secure', text: 'hello' } as const;

      expect(await store.appendIfSecure(conversation.id, draft, { presenceChannel: channel })).toMatchObject({ secure: true, presenceListeners: 0 });
      await subscriber.ssubscribe(channel);
      const first = await store.appendIfSecure(conversation.id, draft, { presenceChannel: channel, dedupeKey: 'k' });
      expect(first).toMatchObject({ secure: true, duplicate: false, presenceListeners: 1 });
      // Not asked, or a duplicate (nothing new to tell anyone about): no answer.
      expect(await store.appendIfSecure(conversation.id, draft)).not.toHaveProperty('presenceListeners');
      expect(await store.appendIfSecure(conversation.id, draft, { presenceChannel: channel, dedupeKey: 'k' })).not.toHaveProperty('presenceListeners');
    } finally {
      subscriber.disconnect();
      await store.close();
    }
  });

  test('an inbound platform message is remembered for 7 days under a digest: no phone number or platform id in the key name', async () => {
    const store = await RedisStore.connect(url(), { cipher: new TextCipher([newKey]), threadRetentionDays: 1 });
    const raw = new Redis(url());
    try {
      const phone = `+1555${randomBytes(3).readUIntBE(0, 3)}`;
      const wamid = `wamid.${randomBytes(8).toString('hex')}`;
      const { conversation } = await store.openConversation('whatsapp', phone);
      await store.appendInbound(conversation.id, { author: 'customer', channel: 'whatsapp', text: 'hi' }, { channel: 'whatsapp', externalUserId: phone, platformMessageId: wamid });
      const key = keys.inboundConversation('whatsapp', phone, wamid);
      expect(key).not.toContain(phone);
      expect(key).not.toContain(wamid);
      expect(await raw.get(key)).toBe(conversation.id);
      // Outlives a thread kept 1 day: WhatsApp redelivers for up to 7 days.
      expect(await raw.ttl(key)).toBeGreaterThan(7 * 86_400 - 60);
      expect(await raw.ttl(key)).toBeLessThanOrEqual(7 * 86_400);
      expect(await raw.ttl(keys.thread(conversation.id))).toBeLessThanOrEqual(86_400);
    } finally {
      raw.disconnect();
      await store.close();
    }
  });

  test('no message text is stored in clear (what redis-cli would show)', async () => {
    const store = await RedisStore.connect(url(), { cipher: new TextCipher([newKey]), threadRetentionDays: 90 });
    const raw = new Redis(url());
    try {
      const { conversation } = await store.openConversation('sms', '+15551230000');
      const secret = `my balance question ${randomBytes(8).toString('hex')}`;
      await store.appendMessage(conversation.id, { author: 'customer', channel: 'sms', text: secret });
      const entries = await raw.xrange(keys.thread(conversation.id), '-', '+');
      const dump = JSON.stringify(entries);
      expect(dump).not.toContain(secret);
      expect(dump).not.toContain(Buffer.from(secret).toString('base64'));
      expect(dump).toContain('v1.k2026.');
      // Every key of this conversation in the whole keyspace: none holds the text.
      const all = await raw.keys(`pg:{c:${conversation.id}}:*`);
      for (const key of all) {
        const type = await raw.type(key);
        const value = type === 'stream' ? JSON.stringify(await raw.xrange(key, '-', '+')) : type === 'hash' ? JSON.stringify(await raw.hgetall(key)) : type === 'string' ? await raw.get(key) : '';
        expect(value).not.toContain(secret);
      }
    } finally {
      raw.disconnect();
      await store.close();
    }
  });

  test('text encrypted under an old key still reads after a new key is put first', async () => {
    const before = await RedisStore.connect(url(), { cipher: new TextCipher([oldKey]), threadRetentionDays: 90 });
    const { conversation } = await before.openConversation('whatsapp', '+15559870000');
    await before.appendMessage(conversation.id, { author: 'customer', channel: 'whatsapp', text: 'written under the old key' });
    await before.close();

    const after = await RedisStore.connect(url(), { cipher: new TextCipher([newKey, oldKey]), threadRetentionDays: 90 });
    try {
      await after.appendMessage(conversation.id, { author: 'advisor', channel: 'whatsapp', text: 'written under the new key' });
      const thread = await after.readMessagesAfter(conversation.id, undefined, 10);
      expect(thread.messages.map((m) => m.text)).toEqual(['written under the old key', 'written under the new key']);
    } finally {
      await after.close();
    }
  });

  test('threads carry a TTL of THREAD_RETENTION_DAYS, renewed by each message', async () => {
    const store = await RedisStore.connect(url(), { cipher: new TextCipher([newKey]), threadRetentionDays: 2 });
    const raw = new Redis(url());
    try {
      const { conversation } = await store.openConversation('sms', '+15550002222');
      await store.appendMessage(conversation.id, { author: 'customer', channel: 'sms', text: 'x' });
      for (const key of [keys.thread(conversation.id), keys.conversation(conversation.id)]) {
        const ttl = await raw.ttl(key);
        expect(ttl).toBeGreaterThan(2 * 86400 - 60);
        expect(ttl).toBeLessThanOrEqual(2 * 86400);
      }
    } finally {
      raw.disconnect();
      await store.close();
    }
  });

  test('Redis stopped mid-test gives GW_ERR_STORE_UNAVAILABLE within the bounded timeout, not a hang', async () => {
    const server = await startRedisServer();
    const store = await RedisStore.connect(server.url, { cipher: new TextCipher([newKey]), threadRetentionDays: 1, commandTimeoutMs: 500 });
    try {
      const { conversation } = await store.openConversation('sms', '+15550003333');
      await store.appendMessage(conversation.id, { author: 'customer', channel: 'sms', text: 'before' });
      await server.stop('SIGKILL');
      await expect(store.appendMessage(conversation.id, { author: 'customer', channel: 'sms', text: 'after' })).rejects.toMatchObject({ code: 'GW_ERR_STORE_UNAVAILABLE' });
      await expect(store.ping()).rejects.toMatchObject({ code: 'GW_ERR_STORE_UNAVAILABLE' });
      await expect(store.readLatestMessages(conversation.id, 10)).rejects.toMatchObject({ code: 'GW_ERR_STORE_UNAVAILABLE' });
    } finally {
      await store.close();
      await server.stop();
    }
  });

  test('connecting to a Redis that is not there fails with GW_ERR_STORE_UNAVAILABLE', async () => {
    const server = await startRedisServer();
    await server.stop();
    await expect(RedisStore.connect(server.url, { cipher: new TextCipher([newKey]), threadRetentionDays: 1, commandTimeoutMs: 500 })).rejects.toMatchObject({ code: 'GW_ERR_STORE_UNAVAILABLE' });
  });
});
