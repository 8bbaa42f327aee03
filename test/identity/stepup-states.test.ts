/** Pending step-ups are single use across nodes: of concurrent returns with one `state`, exactly one gets it; the rest are replays. */
import { MemoryStore } from '../../src/store/memory.store';
import { RedisStore } from '../../src/store/redis.store';
import type { Store } from '../../src/store/store';
import { TextCipher } from '../../src/store/text-cipher';
import { hashReturnKey, returnKeyMatches, StepUpStates, type PendingStepUp } from '../../src/identity/stepup-states';
import { randomBytes } from 'node:crypto';

const pending = (): PendingStepUp => ({
  sessionId: randomBytes(32).toString('base64url'),
  conversationId: '3f1c1f8e-0000-4000-8000-000000000001',
  tier: 4,
  nonce: randomBytes(32).toString('base64url'),
  codeVerifier: randomBytes(32).toString('base64url'),
  returnKeyHash: hashReturnKey('the-return-key'),
  maxAgeSeconds: 43200,
  createdAt: new Date().toISOString(),
});

describe.each(['memory', 'redis'] as const)('StepUpStates on the %s store', (kind) => {
  let store: Store;

  beforeAll(async () => {
    store = kind === 'redis' ? await RedisStore.connect(process.env.TEST_REDIS_URL!, { cipher: TextCipher.ephemeral(), threadRetentionDays: 1 }) : new MemoryStore({ cipher: TextCipher.ephemeral(), threadRetentionDays: 1 });
  });

  afterAll(async () => {
    await store?.close();
  });

  test('one of many concurrent consumes wins; the others see a replay of the same conversation', async () => {
    const states = new StepUpStates(store);
    const state = randomBytes(32).toString('base64url');
    const record = pending();
    await states.save(state, record);
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => states.consume(state)));
    expect(outcomes.filter((o) => o.outcome === 'ok')).toEqual([{ outcome: 'ok', pending: record }]);
    expect(outcomes.filter((o) => o.outcome === 'replayed')).toHaveLength(19);
    expect(await states.consume(state)).toEqual({ outcome: 'replayed', sessionId: record.sessionId, conversationId: record.conversationId });
  });

  test('unknown and malformed states are unknown', async () => {
    const states = new StepUpStates(store);
    expect(await states.consume(randomBytes(32).toString('base64url'))).toEqual({ outcome: 'unknown' });
    expect(await states.consume('short')).toEqual({ outcome: 'unknown' });
    expect(await states.consume('../../etc/passwd-and-more-characters-here')).toEqual({ outcome: 'unknown' });
  });

  test('the record never holds the return key, only its hash; the comparison wants the exact key', () => {
    const record = pending();
    expect(JSON.stringify(record)).not.toContain('the-return-key');
    expect(returnKeyMatches(record, 'the-return-key')).toBe(true);
    expect(returnKeyMatches(record, 'the-return-kez')).toBe(false);
    expect(returnKeyMatches(record, undefined)).toBe(false);
    expect(returnKeyMatches(record, '')).toBe(false);
  });
});
