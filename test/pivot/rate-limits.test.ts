import { clientNetworkOf, createLimiter, RateLimits } from '../../src/ops/rate-limits';
import { MemoryStore } from '../../src/store/memory.store';
import { RedisStore } from '../../src/store/redis.store';
import type { Store } from '../../src/store/store';
import { TextCipher } from '../../src/store/text-cipher';
import { randomBytes } from 'node:crypto';

test.each([
  ['203.0.113.7', '203.0.113.7'],
  ['::ffff:203.0.113.7', '203.0.113.7'],
  ['2001:db8:1:2:aaaa::1', '2001:db8:1:2::/64'],
  ['2001:0db8:0001:0002:ffff:ffff:ffff:ffff', '2001:db8:1:2::/64'],
  ['2001:db8::1', '2001:db8:0:0::/64'],
  ['::1', '0:0:0:0::/64'],
  ['[2001:db8:5::7]', '2001:db8:5:0::/64'],
  ['fe80::1%eth0', 'fe80:0:0:0::/64'],
])('client network of %s is %s', (ip, network) => {
  expect(clientNetworkOf(ip)).toBe(network);
});

describe.each(['redis', 'memory'] as const)('limiters on the %s store', (kind) => {
  let store: Store;
  let peer: Store;
  beforeAll(async () => {
    if (kind === 'redis') {
      store = await RedisStore.connect(process.env.TEST_REDIS_URL!, { cipher: TextCipher.ephemeral(), threadRetentionDays: 90 });
      peer = await RedisStore.connect(process.env.TEST_REDIS_URL!, { cipher: TextCipher.ephemeral(), threadRetentionDays: 90 });
    } else {
      store = new MemoryStore({ cipher: TextCipher.ephemeral(), threadRetentionDays: 90 });
      peer = store;
    }
  });
  afterAll(async () => {
    await store.close();
    if (peer !== store) await peer.close();
  });

  test('a generic limiter: consume refuses past its points; peek never counts', async () => {
    const limiter = createLimiter(store, 'test-generic', { points: 3, durationSeconds: 60 });
    const key = randomBytes(8).toString('hex');
    for (let i = 0; i < 5; i++) expect((await limiter.peek(key)).allowed).toBe(true);
    const decisions = [];
    for (let i = 0; i < 4; i++) decisions.push(await limiter.consume(key));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(decisions[3]!.retryAfterMs).toBeGreaterThan(0);
    await limiter.reset(key);
    expect((await limiter.consume(key)).allowed).toBe(true);
  });

  test('failure limits: 30 per client network, 10 per conversation, shared by every node on the store', async () => {
    const a = new RateLimits(store);
    const b = new RateLimits(peer);
    const ip = `2001:db8:${randomBytes(2).toString('hex')}:1::5`;
    const sameSubscriber = ip.replace('::5', '::99');
    for (let i = 0; i < 30; i++) await (i % 2 ? a : b).recordFailure({ ip: i % 3 ? ip : sameSubscriber });
    await expect(a.assertClientAllowed(ip)).rejects.toMatchObject({ code: 'GW_ERR_RATE_LIMITED' });
    await expect(b.assertClientAllowed(sameSubscriber)).rejects.toMatchObject({ code: 'GW_ERR_RATE_LIMITED' });
    await expect(a.assertClientAllowed('2001:db8:ffff:2::5')).resolves.toBeUndefined();

    const conversationId = randomBytes(8).toString('hex');
    for (let i = 0; i < 9; i++) await a.recordFailure({ ip: `198.51.100.${i}`, conversationId });
    await expect(b.assertConversationAllowed(conversationId)).resolves.toBeUndefined();
    await b.recordFailure({ ip: '198.51.100.200', conversationId });
    await expect(a.assertConversationAllowed(conversationId)).rejects.toMatchObject({ code: 'GW_ERR_RATE_LIMITED', extra: { retryAfterSeconds: expect.any(Number) } });
    await b.resetConversation(conversationId);
    await expect(a.assertConversationAllowed(conversationId)).resolves.toBeUndefined();
  });
});
