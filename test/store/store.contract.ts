/**
 * ONE contract suite for both store implementations: whatever the gateway
 * relies on is asserted here, and `memory.store.test.ts` and
 * `redis.store.test.ts` run it against their own store.
 */
import { randomUUID } from 'node:crypto';
import { keys } from '../../src/store/keys';
import type { PlatformMessage, Store } from '../../src/store/store';
import { isGatewayError } from '../../src/errors';

export interface StoreHarness {
  store: Store;
  /** A second client of the same backing store (another "node"); the memory store returns itself. */
  peer: Store;
  /**
   * Makes a conversation's records gone, as THREAD_RETENTION_DAYS does after
   * its last message, while keys with a longer lifetime (7-day dedupe) stay.
   * It may expire other conversations of the store as well.
   */
  expireConversation: (conversationId: string) => Promise<void>;
}

export function storeContract(name: string, setup: () => Promise<StoreHarness>, teardown: (h: StoreHarness) => Promise<void>): void {
  describe(`${name} store contract`, () => {
    let h: StoreHarness;
    beforeAll(async () => {
      h = await setup();
    });
    afterAll(async () => {
      await teardown(h);
    });

    const user = () => `+1555${Math.floor(Math.random() * 1e7).toString().padStart(7, '0')}`;

    test('one open conversation per (channel, externalUserId), created once even under concurrency', async () => {
      const phone = user();
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? h.peer : h.store).openConversation('sms', phone)));
      const ids = new Set(results.map((r) => r.conversation.id));
      expect(ids.size).toBe(1);
      expect(results.filter((r) => r.created)).toHaveLength(1);
      const conversation = results[0]!.conversation;
      expect(conversation).toMatchObject({ channel: 'sms', externalUserId: phone, status: 'open', secure: 'none' });
      expect(Date.parse(conversation.createdAt)).not.toBeNaN();
      const other = await h.store.openConversation('whatsapp', phone);
      expect(other.conversation.id).not.toBe(conversation.id);
      expect((await h.store.conversationIdsOfUser(phone)).sort()).toEqual([conversation.id, other.conversation.id].sort());
    });

    test('a closed conversation is replaced by a new one on the next message', async () => {
      const phone = user();
      const first = (await h.store.openConversation('sms', phone)).conversation;
      await h.store.updateConversation(first.id, { status: 'closed' });
      const second = await h.store.openConversation('sms', phone);
      expect(second.created).toBe(true);
      expect(second.conversation.id).not.toBe(first.id);
      expect((await h.store.getConversation(first.id))?.status).toBe('closed');
    });

    test('append returns the stored message; reads after an id return exactly the newer ones', async () => {
      const { conversation } = await h.store.openConversation('messenger', `psid-${randomUUID()}`);
      const appended = [];
      for (let i = 0; i < 7; i++) {
        appended.push((await h.store.appendMessage(conversation.id, { author: i % 2 ? 'advisor' : 'customer', channel: 'messenger', text: `message ${i}` })).message);
      }
      expect(appended[0]).toMatchObject({ conversationId: conversation.id, author: 'customer', channel: 'messenger', text: 'message 0' });
      expect(appended[0]!.redacted).toBeUndefined();
      const after = await h.store.readMessagesAfter(conversation.id, appended[2]!.id, 100);
      expect(after.messages.map((m) => m.text)).toEqual(['message 3', 'message 4', 'message 5', 'message 6']);
      expect(after.hasMore).toBe(false);
      const limited = await h.store.readMessagesAfter(conversation.id, undefined, 3);
      expect(limited.messages.map((m) => m.text)).toEqual(['message 0', 'message 1', 'message 2']);
      expect(limited.hasMore).toBe(true);
      const latest = await h.peer.readLatestMessages(conversation.id, 2);
      expect(latest.messages.map((m) => m.text)).toEqual(['message 5', 'message 6']);
      expect(latest.hasMore).toBe(true);
      expect(await h.store.getMessage(conversation.id, appended[4]!.id)).toMatchObject({ text: 'message 4', author: 'customer' });
      expect(await h.store.getMessage(conversation.id, 'not-an-id')).toBeUndefined();
      const bumped = await h.store.getConversation(conversation.id);
      expect(bumped?.lastMessageAt).toBe(appended[6]!.createdAt);
    });

    test("an advisor message keeps the advisor's display name", async () => {
      const { conversation } = await h.store.openConversation('sms', user());
      const { message } = await h.store.appendMessage(conversation.id, { author: 'advisor', channel: 'secure', text: 'hello', authorName: 'Alex Advisor' });
      expect(message.authorName).toBe('Alex Advisor');
      const [read] = (await h.peer.readLatestMessages(conversation.id, 1)).messages;
      expect(read).toMatchObject({ author: 'advisor', authorName: 'Alex Advisor', text: 'hello' });
      const plain = await h.store.appendMessage(conversation.id, { author: 'customer', channel: 'sms', text: 'hi' });
      expect(plain.message.authorName).toBeUndefined();
    });

    test('a redacted message says so', async () => {
      const { conversation } = await h.store.openConversation('sms', user());
      const { message } = await h.store.appendMessage(conversation.id, { author: 'customer', channel: 'sms', text: 'card •••• 4242', redacted: true });
      expect(message.redacted).toBe(true);
      expect((await h.store.readLatestMessages(conversation.id, 1)).messages[0]?.redacted).toBe(true);
    });

    test('concurrent appends from 20 clients keep every message exactly once and in one order', async () => {
      const { conversation } = await h.store.openConversation('sms', user());
      const texts = Array.from({ length: 20 }, (_, i) => `client ${i}`);
      const results = await Promise.all(texts.map((text, i) => (i % 2 ? h.peer : h.store).appendMessage(conversation.id, { author: 'customer', channel: 'sms', text })));
      const thread = (await h.store.readMessagesAfter(conversation.id, undefined, 100)).messages;
      expect(thread).toHaveLength(20);
      expect(new Set(thread.map((m) => m.text))).toEqual(new Set(texts));
      expect(new Set(thread.map((m) => m.id)).size).toBe(20);
      // One order: the ids every client got back, sorted, are the thread's order.
      const byId = results.map((r) => r.message.id);
      expect(thread.map((m) => m.id)).toEqual([...byId].sort((a, b) => {
        const [am, as] = a.split('-').map(Number);
        const [bm, bs] = b.split('-').map(Number);
        return am! - bm! || as! - bs!;
      }));
      expect((await h.peer.readMessagesAfter(conversation.id, undefined, 100)).messages.map((m) => m.id)).toEqual(thread.map((m) => m.id));
    });

    test('dedupe under concurrency: 10 parallel first deliveries of one id store one message', async () => {
      const { conversation } = await h.store.openConversation('whatsapp', user());
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? h.peer : h.store).appendMessage(conversation.id, { author: 'customer', channel: 'whatsapp', text: 'hello' }, { dedupeKey: 'wamid.ABC' })),
      );
      expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
      expect(new Set(results.map((r) => r.message.id)).size).toBe(1);
      expect(results.every((r) => r.message.text === 'hello')).toBe(true);
      expect((await h.store.readMessagesAfter(conversation.id, undefined, 100)).messages).toHaveLength(1);
    });

    test('delivery status is recorded on the message', async () => {
      const { conversation } = await h.store.openConversation('sms', user());
      const { message } = await h.store.appendMessage(conversation.id, { author: 'advisor', channel: 'sms', text: 'hi' });
      await h.store.setDelivery(conversation.id, message.id, 'failed', 'Twilio 21610: unsubscribed recipient');
      const read = await h.peer.getMessage(conversation.id, message.id);
      expect(read?.delivery).toMatchObject({ status: 'failed', error: 'Twilio 21610: unsubscribed recipient' });
    });

    test('conversations list newest activity first, paged with an opaque cursor, filtered by status', async () => {
      const made = [];
      for (let i = 0; i < 5; i++) {
        const { conversation } = await h.store.openConversation('sms', user());
        await new Promise((r) => setTimeout(r, 3));
        await h.store.appendMessage(conversation.id, { author: 'customer', channel: 'sms', text: `hi ${i}` });
        made.push(conversation.id);
      }
      await h.store.updateConversation(made[3]!, { status: 'closed' });
      // The newest five conversations of the whole store are ours, newest first.
      const first = await h.store.listConversations({ limit: 2 });
      expect(first.items.map((c) => c.id)).toEqual([made[4], made[3]]);
      expect(first.next).not.toBeNull();
      const second = await h.peer.listConversations({ limit: 2, cursor: first.next! });
      expect(second.items.map((c) => c.id)).toEqual([made[2], made[1]]);
      const open = await h.store.listConversations({ status: 'open', limit: 3 });
      expect(open.items.map((c) => c.id)).toEqual([made[4], made[2], made[1]]);
      expect(open.items.every((c) => c.status === 'open')).toBe(true);
    });

    test('append returns the conversation it appended to; requireOpen refuses a closed one and stores nothing', async () => {
      const phone = user();
      const { conversation } = await h.store.openConversation('sms', phone);
      const first = await h.store.appendMessage(conversation.id, { author: 'customer', channel: 'sms', text: 'one' }, { dedupeKey: 'SM1', requireOpen: true });
      expect(first.conversation).toMatchObject({ id: conversation.id, channel: 'sms', externalUserId: phone, status: 'open', secure: 'none', createdAt: conversation.createdAt });
      expect(first.conversation.lastMessageAt).toBe(first.message.createdAt);
      const again = await h.peer.appendMessage(conversation.id, { author: 'customer', channel: 'sms', text: 'one' }, { dedupeKey: 'SM1', requireOpen: true });
      expect(again).toMatchObject({ duplicate: true, conversation: { id: conversation.id, status: 'open' } });
      expect(again.message.id).toBe(first.message.id);

      await h.store.updateConversation(conversation.id, { status: 'closed' });
      await expect(h.peer.appendMessage(conversation.id, { author: 'customer', channel: 'sms', text: 'two' }, { dedupeKey: 'SM2', requireOpen: true })).rejects.toMatchObject({
        code: 'GW_ERR_CONVERSATION_CLOSED',
      });
      expect((await h.store.readLatestMessages(conversation.id, 10)).messages.map((m) => m.text)).toEqual(['one']);
      // Without requireOpen a closed conversation still takes messages (advisor notes, bot answers), and says it is closed.
      const note = await h.store.appendMessage(conversation.id, { author: 'advisor', channel: 'sms', text: 'closing note' });
      expect(note.conversation.status).toBe('closed');
      await expect(h.store.appendMessage(randomUUID(), { author: 'customer', channel: 'sms', text: 'x' }, { requireOpen: true })).rejects.toMatchObject({ code: 'GW_ERR_CONVERSATION_NOT_FOUND' });
    });

    test('appendIfSecure appends only while a session is live and no lock holds; else stores nothing and hands back the conversation', async () => {
      const { conversation } = await h.store.openConversation('sms', user());
      const id = conversation.id;
      const draft = { author: 'advisor', channel: 'secure', text: 'your card is on its way', authorName: 'Alex' } as const;
      const thread = async () => (await h.store.readLatestMessages(id, 10)).messages.map((m) => m.text);

      // No session at all.
      expect(await h.store.appendIfSecure(id, draft)).toMatchObject({ secure: false, conversation: { id, channel: 'sms', status: 'open' } });
      // A session id whose session expired: not usable, and the stale id is pruned from the set.
      await h.store.addToSet(keys.conversationSessions(id), `gone-${randomUUID()}`, 60);
      expect(await h.peer.appendIfSecure(id, draft)).toMatchObject({ secure: false });
      expect(await h.store.setMembers(keys.conversationSessions(id))).toEqual([]);
      expect(await thread()).toEqual([]);

      // A live session: stored, with the conversation the append left.
      const sessionId = `live-${randomUUID()}`;
      await h.store.set(keys.session(sessionId), '{}', 60);
      await h.store.addToSet(keys.conversationSessions(id), `gone-${randomUUID()}`, 60);
      await h.store.addToSet(keys.conversationSessions(id), sessionId, 60);
      const stored = await h.peer.appendIfSecure(id, draft, { dedupeKey: 'advisor:a:k1' });
      if (!stored.secure) throw new Error('expected a secure append');
      expect(stored).toMatchObject({ duplicate: false, message: { author: 'advisor', channel: 'secure', text: draft.text, authorName: 'Alex' } });
      expect(stored.conversation.lastMessageAt).toBe(stored.message.createdAt);
      const again = await h.store.appendIfSecure(id, draft, { dedupeKey: 'advisor:a:k1' });
      expect(again).toMatchObject({ secure: true, duplicate: true, message: stored.message });
      expect(await thread()).toEqual([draft.text]);

      // The lock key refuses, whatever the sessions; so does `secure: 'locked'` without it.
      await h.store.set(keys.secureLock(id), '{}', 60);
      expect(await h.peer.appendIfSecure(id, { ...draft, text: 'while locked' })).toMatchObject({ secure: false });
      await h.store.delete(keys.secureLock(id));
      await h.store.updateConversation(id, { secure: 'locked' });
      expect(await h.store.appendIfSecure(id, { ...draft, text: 'while locked' })).toMatchObject({ secure: false, conversation: { secure: 'locked' } });
      expect(await thread()).toEqual([draft.text]);
      expect(await h.store.setMembers(keys.conversationSessions(id))).toContain(sessionId);

      await h.store.updateConversation(id, { secure: 'active', status: 'closed' });
      await expect(h.peer.appendIfSecure(id, draft)).rejects.toMatchObject({ code: 'GW_ERR_CONVERSATION_CLOSED' });
      await expect(h.store.appendIfSecure(randomUUID(), draft)).rejects.toMatchObject({ code: 'GW_ERR_CONVERSATION_NOT_FOUND' });
      expect(await thread()).toEqual([draft.text]);
    });

    test('unknown conversations are reported, not created', async () => {
      await expect(h.store.appendMessage(randomUUID(), { author: 'customer', channel: 'sms', text: 'x' })).rejects.toMatchObject({ code: 'GW_ERR_CONVERSATION_NOT_FOUND' });
      await expect(h.store.updateConversation(randomUUID(), { status: 'closed' })).rejects.toMatchObject({ code: 'GW_ERR_CONVERSATION_NOT_FOUND' });
      expect(await h.store.getConversation(randomUUID())).toBeUndefined();
    });

    test('primitives: set-if-absent is won once; compare-and-set is atomic and reports what it found', async () => {
      const key = `pg:test:${randomUUID()}`;
      const wins = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? h.peer : h.store).setIfAbsent(key, `v${i}`, 60)));
      expect(wins.filter(Boolean)).toHaveLength(1);
      const held = await h.store.get(key);
      const cas = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? h.peer : h.store).compareAndSet(key, held!, `next${i}`)));
      expect(cas.filter((r) => r.ok)).toHaveLength(1);
      const winner = cas.find((r) => r.ok)!.current;
      expect(cas.filter((r) => !r.ok).every((r) => r.current === winner)).toBe(true);
      expect(await h.store.compareAndSet(`pg:test:${randomUUID()}`, 'a', 'b')).toEqual({ ok: false });
      await h.store.delete(key);
      expect(await h.store.get(key)).toBeUndefined();
    });

    test('primitives: TTLs expire keys; sets and logs keep members in order', async () => {
      const key = `pg:test:${randomUUID()}`;
      await h.store.set(key, 'x', 1);
      expect(await h.store.expire(key, 1)).toBe(true);
      await new Promise((r) => setTimeout(r, 1100));
      expect(await h.store.get(key)).toBeUndefined();
      expect(await h.store.expire(key, 1)).toBe(false);

      const set = `pg:test:${randomUUID()}`;
      await h.store.addToSet(set, 'a');
      await h.peer.addToSet(set, 'b', 60);
      await h.store.removeFromSet(set, 'a');
      expect(await h.store.setMembers(set)).toEqual(['b']);

      const log = `pg:test:${randomUUID()}`;
      const ids = [];
      for (const v of ['one', 'two', 'three']) ids.push(await h.store.appendLog(log, v, 60));
      expect((await h.peer.readLog(log, undefined, 10)).map((e) => e.value)).toEqual(['one', 'two', 'three']);
      expect((await h.store.readLog(log, ids[0], 10)).map((e) => e.value)).toEqual(['two', 'three']);
      expect((await h.store.readLog(log, undefined, 1)).map((e) => e.id)).toEqual([ids[0]]);
    });

    describe('inbound platform messages: one entry per (channel, sender, platform id) for 7 days, whatever the conversation', () => {
      const draft = (text = 'transfer 500 to Bob') => ({ author: 'customer', channel: 'whatsapp', text }) as const;
      const platformMessage = (externalUserId: string, platformMessageId = `wamid.${randomUUID()}`): PlatformMessage => ({ channel: 'whatsapp', externalUserId, platformMessageId });
      const entries = async (conversationIds: string[]) => (await Promise.all(conversationIds.map((id) => h.store.readLatestMessages(id, 10)))).flatMap((t) => t.messages);

      test('a redelivery after its conversation was closed is a duplicate, aimed at that conversation or at a new one', async () => {
        const phone = user();
        const wamid = platformMessage(phone);
        const { conversation: a } = await h.store.openConversation('whatsapp', phone);
        const first = await h.store.appendInbound(a.id, draft(), wamid, { requireOpen: true });
        if ('firstConversationId' in first) throw new Error('expected a stored message');
        expect(first).toMatchObject({ duplicate: false, conversation: { id: a.id, status: 'open' }, message: { text: 'transfer 500 to Bob' } });
        expect(await h.peer.firstConversationOf(wamid)).toBe(a.id);
        // Redelivered while open, from another node: the first message back.
        expect(await h.peer.appendInbound(a.id, draft(), wamid, { requireOpen: true })).toMatchObject({ duplicate: true, message: { id: first.message.id } });

        await h.store.updateConversation(a.id, { status: 'closed' });
        // Aimed at the closed conversation: a duplicate, not GW_ERR_CONVERSATION_CLOSED (which would make the caller open a new one).
        expect(await h.peer.appendInbound(a.id, draft(), wamid, { requireOpen: true })).toMatchObject({ duplicate: true, message: { id: first.message.id }, conversation: { id: a.id, status: 'closed' } });
        // Aimed at the sender's next conversation: a duplicate that names where the first delivery went.
        const { conversation: b } = await h.store.openConversation('whatsapp', phone);
        expect(b.id).not.toBe(a.id);
        expect(await h.store.appendInbound(b.id, draft(), wamid, { requireOpen: true })).toEqual({ duplicate: true, firstConversationId: a.id });
        expect(await h.peer.appendInbound(b.id, draft(), wamid)).toEqual({ duplicate: true, firstConversationId: a.id });
        expect((await entries([a.id, b.id])).map((m) => m.id)).toEqual([first.message.id]);
        // A new platform message still reaches the new conversation; a closed one still refuses one.
        expect(await h.store.appendInbound(b.id, draft('hello again'), platformMessage(phone), { requireOpen: true })).toMatchObject({ duplicate: false, conversation: { id: b.id } });
        await expect(h.store.appendInbound(a.id, draft('late'), platformMessage(phone), { requireOpen: true })).rejects.toMatchObject({ code: 'GW_ERR_CONVERSATION_CLOSED' });
        expect((await entries([a.id])).map((m) => m.text)).toEqual(['transfer 500 to Bob']);
      });

      test('the platform id is scoped to its sender and channel; conversation-scoped dedupe keys keep their scope', async () => {
        const id = `SM${randomUUID()}`;
        const [one, two] = [user(), user()];
        const { conversation: a } = await h.store.openConversation('sms', one);
        const { conversation: b } = await h.store.openConversation('sms', two);
        const { conversation: c } = await h.store.openConversation('whatsapp', one);
        const sms = { author: 'customer', channel: 'sms', text: 'hi' } as const;
        expect((await h.store.appendInbound(a.id, sms, { channel: 'sms', externalUserId: one, platformMessageId: id })).duplicate).toBe(false);
        expect((await h.store.appendInbound(b.id, sms, { channel: 'sms', externalUserId: two, platformMessageId: id })).duplicate).toBe(false);
        expect((await h.store.appendInbound(c.id, { ...sms, channel: 'whatsapp' }, { channel: 'whatsapp', externalUserId: one, platformMessageId: id })).duplicate).toBe(false);
        // An advisor's idempotency key (or a webview clientMessageId) is per conversation, as before: the same key elsewhere is new.
        await h.store.appendMessage(a.id, { author: 'advisor', channel: 'sms', text: 'on it' }, { dedupeKey: 'advisor:ada:k1' });
        expect((await h.store.appendMessage(b.id, { author: 'advisor', channel: 'sms', text: 'on it' }, { dedupeKey: 'advisor:ada:k1' })).duplicate).toBe(false);
        expect((await h.peer.appendMessage(a.id, { author: 'advisor', channel: 'sms', text: 'on it' }, { dedupeKey: 'advisor:ada:k1' })).duplicate).toBe(true);
        expect((await entries([a.id, b.id, c.id])).map((m) => m.text)).toEqual(['hi', 'on it', 'hi', 'on it', 'hi']);
      });

      test('10 parallel deliveries of one message, aimed at two conversations of the sender, store it once', async () => {
        const phone = user();
        const wamid = platformMessage(phone);
        const { conversation: a } = await h.store.openConversation('whatsapp', phone);
        await h.store.updateConversation(a.id, { status: 'closed' });
        const { conversation: b } = await h.store.openConversation('whatsapp', phone);
        const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? h.peer : h.store).appendInbound(i < 5 ? a.id : b.id, draft(), wamid)));
        expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
        expect(await entries([a.id, b.id])).toHaveLength(1);
      });

      test("a redelivery after its conversation's records expired is a duplicate, and opens nothing", async () => {
        const phone = user();
        const wamid = platformMessage(phone);
        const { conversation: a } = await h.store.openConversation('whatsapp', phone);
        expect((await h.store.appendInbound(a.id, draft(), wamid, { requireOpen: true })).duplicate).toBe(false);
        await h.expireConversation(a.id);
        expect(await h.store.getConversation(a.id)).toBeUndefined();

        expect(await h.store.firstConversationOf(wamid)).toBe(a.id);
        // Aimed at the expired conversation: a duplicate (not GW_ERR_CONVERSATION_NOT_FOUND, which would make the caller open one).
        expect(await h.peer.appendInbound(a.id, draft(), wamid, { requireOpen: true })).toEqual({ duplicate: true, firstConversationId: a.id });
        const { conversation: b } = await h.store.openConversation('whatsapp', phone);
        expect(await h.store.appendInbound(b.id, draft(), wamid)).toEqual({ duplicate: true, firstConversationId: a.id });
        expect(await entries([a.id, b.id])).toEqual([]);
      });
    });

    test('ping answers while the store is up', async () => {
      await expect(h.store.ping()).resolves.toBeUndefined();
      expect(isGatewayError(new Error('x'))).toBe(false);
    });
  });
}
