import { AuditTrail, type AuditEntryInput } from '../../src/audit/audit-trail';
import { MemoryStore } from '../../src/store/memory.store';
import { RedisStore } from '../../src/store/redis.store';
import { keys } from '../../src/store/keys';
import type { Store } from '../../src/store/store';
import { TextCipher } from '../../src/store/text-cipher';
import { newConversation } from '../support/pivot-fixtures';

describe.each(['redis', 'memory'] as const)('audit trail on the %s store', (kind) => {
  let store: Store;
  const clock = { now: Date.parse('2026-04-01T09:30:00Z') };
  let audit: AuditTrail;

  beforeAll(async () => {
    store =
      kind === 'redis'
        ? await RedisStore.connect(process.env.TEST_REDIS_URL!, { cipher: TextCipher.ephemeral(), threadRetentionDays: 90 })
        : new MemoryStore({ cipher: TextCipher.ephemeral(), threadRetentionDays: 90 });
    audit = new AuditTrail(store, { retentionSeconds: 3600, now: () => clock.now });
  });
  afterAll(async () => {
    await store.close();
  });

  test('records entries with id and time, lists them oldest first with a cursor', async () => {
    const { id } = await newConversation(store);
    const inputs: AuditEntryInput[] = [
      { type: 'pivot_issued', pivotId: 'j1', intent: 'trade', tier: 3, actor: { kind: 'advisor', id: 'a1' } },
      { type: 'pivot_refused', reason: 'token_expired', client: { ip: '192.0.2.1', userAgent: 'UA' } },
      { type: 'pivot_redeemed', pivotId: 'j1', sessionId: 's1', client: { ip: '192.0.2.1', userAgent: 'UA' } },
      { type: 'locked', reason: 'pivot_replayed', actor: { kind: 'system' } },
      { type: 'unlocked', actor: { kind: 'advisor', id: 'a1' } },
    ];
    for (const input of inputs) {
      await audit.record(id, input);
      clock.now += 1000;
    }
    const first = await audit.list(id, undefined, 2);
    expect(first.items.map((e) => e.type)).toEqual(['pivot_issued', 'pivot_refused']);
    expect(first.items[0]).toMatchObject({ id: expect.stringMatching(/^\d+-\d+$/), at: '2026-04-01T09:30:00.000Z', actor: { kind: 'advisor', id: 'a1' } });
    expect(first.items[1]).toMatchObject({ reason: 'token_expired', client: { ip: '192.0.2.1', userAgent: 'UA' } });
    expect(first.next).toBe(first.items[1]!.id);
    const second = await audit.list(id, first.next!, 2);
    expect(second.items.map((e) => e.type)).toEqual(['pivot_redeemed', 'locked']);
    const last = await audit.list(id, second.next!, 2);
    expect(last.items.map((e) => e.type)).toEqual(['unlocked']);
    expect(last.next).toBeNull();
    expect((await audit.list(id, undefined, 50)).items).toHaveLength(5);
  });

  test('keeps conversations apart and expires with the retention', async () => {
    const a = await newConversation(store);
    const b = await newConversation(store);
    await audit.record(a.id, { type: 'consent', intent: 'trade' });
    expect((await audit.list(b.id, undefined, 10)).items).toEqual([]);
    if (kind === 'redis') {
      const ttl = await (store as RedisStore).redis.ttl(keys.audit(a.id));
      expect(ttl).toBeGreaterThan(3500);
      expect(ttl).toBeLessThanOrEqual(3600);
    }
  });

  test('never stores a token, even one passed by mistake', async () => {
    const { id } = await newConversation(store);
    const token = 'eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIiwidHlwIjoicGl2b3Qrand0In0.eyJzdWIiOiJjIn0.c2lnbmF0dXJlc2lnbmF0dXJl';
    await audit.record(id, { type: 'pivot_refused', reason: `bad ${token}`, detail: { raw: token } });
    const raw = JSON.stringify(await store.readLog(keys.audit(id), undefined, 10));
    expect(raw).not.toContain(token);
    expect(raw).toContain('[token]');
  });

  test('refuses a bad limit or cursor with GW_ERR_VALIDATION', async () => {
    const { id } = await newConversation(store);
    await expect(audit.list(id, undefined, 0)).rejects.toMatchObject({ code: 'GW_ERR_VALIDATION' });
    await expect(audit.list(id, 'nope', 10)).rejects.toMatchObject({ code: 'GW_ERR_VALIDATION' });
  });
});
