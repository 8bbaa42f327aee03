/**
 * `hasActive` (asked on every advisor reply) remembers the session ids it saw
 * to read them in one round trip; the set and the session keys stay the
 * truth: a session opened since, a revoked one and an expired one are each
 * seen for what they are, on the real Redis store and the memory store.
 */
import { AuditTrail } from '../../src/audit/audit-trail';
import { SecureSessions } from '../../src/chat/sessions';
import { ConversationEvents } from '../../src/conversation-events';
import { keys } from '../../src/store/keys';
import { MemoryStore } from '../../src/store/memory.store';
import { RedisStore } from '../../src/store/redis.store';
import type { Store } from '../../src/store/store';
import { TextCipher } from '../../src/store/text-cipher';
import { newConversation, randomClient } from '../support/pivot-fixtures';

describe.each(['redis', 'memory'] as const)('hasActive on the %s store', (kind) => {
  let store: Store;
  let sessions: SecureSessions;

  beforeAll(async () => {
    const cipher = TextCipher.ephemeral();
    store = kind === 'redis' ? await RedisStore.connect(process.env.TEST_REDIS_URL!, { cipher, threadRetentionDays: 90 }) : new MemoryStore({ cipher, threadRetentionDays: 90 });
    sessions = new SecureSessions(store, new ConversationEvents(), new AuditTrail(store, { retentionSeconds: 86_400 }), { idleSeconds: 900 });
  });
  afterAll(async () => {
    await store.close();
  });

  const open = (conversationId: string) => sessions.open(conversationId, { tier: 1, intent: 'view_account', client: randomClient() });

  test('sessions opened after the last look count; revoked and expired ones do not', async () => {
    const conversation = await newConversation(store);
    expect(await sessions.hasActive(conversation.id)).toBe(false);

    const first = await open(conversation.id);
    expect(await sessions.hasActive(conversation.id)).toBe(true);

    // The remembered session is revoked, a new one opened: the new member is read, not the memory trusted.
    const second = await open(conversation.id);
    await sessions.revoke(first.session.id, 'replaced');
    expect(await sessions.hasActive(conversation.id)).toBe(true);

    await sessions.revoke(second.session.id, 'revoked');
    expect(await sessions.hasActive(conversation.id)).toBe(false);

    // Expiry (the idle TTL) deletes the session key but leaves the id in the set: not live, and pruned.
    const third = await open(conversation.id);
    expect(await sessions.hasActive(conversation.id)).toBe(true);
    await store.delete(keys.session(third.session.id));
    expect(await sessions.hasActive(conversation.id)).toBe(false);
    expect(await store.setMembers(keys.conversationSessions(conversation.id))).toEqual([]);
    expect(await sessions.activeCount(conversation.id)).toBe(0);
  });

  test('one conversation is not answered from another one’s memory', async () => {
    const [left, right] = await Promise.all([newConversation(store), newConversation(store)]);
    await open(left.id);
    expect(await sessions.hasActive(left.id)).toBe(true);
    expect(await sessions.hasActive(right.id)).toBe(false);
    await open(right.id);
    expect(await sessions.hasActive(right.id)).toBe(true);
  });
});
