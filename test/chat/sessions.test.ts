import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { AuditTrail } from '../../src/audit/audit-trail';
import { SecureSessions } from '../../src/chat/sessions';
import { ConversationEvents, type ConversationChange, type SessionRevocation } from '../../src/conversation-events';
import { RateLimits } from '../../src/ops/rate-limits';
import { socketErrorOf } from '../../src/pivot/refusals';
import { keys } from '../../src/store/keys';
import { MemoryStore } from '../../src/store/memory.store';
import { RedisStore } from '../../src/store/redis.store';
import type { Store } from '../../src/store/store';
import { TextCipher } from '../../src/store/text-cipher';
import { newConversation, outcome, randomClient } from '../support/pivot-fixtures';

const IDLE = 900;

interface Rig {
  store: Store;
  sessions: SecureSessions;
  audit: AuditTrail;
  changes: ConversationChange[];
  revocations: SessionRevocation[];
  clock: { now: number };
}

async function rig(kind: 'redis' | 'memory', clock: { now: number }): Promise<Rig> {
  const now = () => clock.now;
  const store =
    kind === 'redis'
      ? await RedisStore.connect(process.env.TEST_REDIS_URL!, { cipher: TextCipher.ephemeral(), threadRetentionDays: 90 })
      : new MemoryStore({ cipher: TextCipher.ephemeral(), threadRetentionDays: 90, now });
  const events = new ConversationEvents();
  const audit = new AuditTrail(store, { retentionSeconds: 86_400, now });
  const sessions = new SecureSessions(store, events, audit, { idleSeconds: IDLE, now, rateLimits: new RateLimits(store) });
  const changes: ConversationChange[] = [];
  const revocations: SessionRevocation[] = [];
  events.subscribe((c) => changes.push(c));
  events.subscribeRevocations((r) => revocations.push(r));
  return { store, sessions, audit, changes, revocations, clock };
}

const refusal = (attempt: Promise<unknown>) => outcome(attempt, socketErrorOf);

describe.each(['redis', 'memory'] as const)('secure sessions on the %s store', (kind) => {
  const clock = { now: Date.now() };
  let r: Rig;
  beforeAll(async () => {
    r = await rig(kind, clock);
  });
  afterAll(async () => {
    await r.store.close();
  });
  beforeEach(() => {
    r.changes.length = 0;
    r.revocations.length = 0;
  });

  test('open: a 256-bit opaque token; only its SHA-256 is stored, with the idle TTL', async () => {
    const conversation = await newConversation(r.store);
    const client = randomClient();
    const { sessionToken, session } = await r.sessions.open(conversation.id, { tier: 1, intent: 'view_account', client });
    expect(Buffer.from(sessionToken, 'base64url')).toHaveLength(32);
    expect(session.id).toBe(createHash('sha256').update(sessionToken).digest('base64url'));
    expect(session).toMatchObject({ conversationId: conversation.id, tier: 1, intent: 'view_account', client });
    expect(Date.parse(session.expiresAt) - Date.parse(session.lastSeenAt)).toBe(IDLE * 1000);
    const raw = await r.store.get(keys.session(session.id));
    expect(raw).toBeDefined();
    expect(raw).not.toContain(sessionToken);
    expect(await r.store.get(keys.session(sessionToken))).toBeUndefined();
    expect(await r.store.setMembers(keys.conversationSessions(conversation.id))).toEqual([session.id]);
    if (kind === 'redis') {
      const redis = (r.store as RedisStore).redis;
      const ttl = await redis.ttl(keys.session(session.id));
      expect(ttl).toBeGreaterThan(IDLE - 5);
      expect(ttl).toBeLessThanOrEqual(IDLE);
      // Nothing this session wrote holds the token itself (what redis-cli would show).
      const written = [...(await redis.keys(`*${conversation.id}*`)), keys.session(session.id)];
      const values = await Promise.all(
        written.map(async (k) => {
          const type = await redis.type(k);
          if (type === 'string') return redis.get(k);
          if (type === 'set') return redis.smembers(k);
          if (type === 'stream') return redis.xrange(k, '-', '+');
          return redis.hgetall(k);
        }),
      );
      expect(JSON.stringify([written, values])).not.toContain(sessionToken);
    }
    const audit = (await r.audit.list(conversation.id, undefined, 10)).items;
    expect(audit).toEqual([expect.objectContaining({ type: 'session_opened', sessionId: session.id, client, tier: 1 })]);
    expect(JSON.stringify(audit)).not.toContain(sessionToken);
  });

  test('resume returns the session, renews its idle lifetime and records the client', async () => {
    const conversation = await newConversation(r.store);
    const { sessionToken, session } = await r.sessions.open(conversation.id, { tier: 1, intent: 'view_account', client: randomClient() });
    clock.now += 60_000;
    const moved = randomClient('Mozilla/5.0 (iPhone) Safari/17');
    const resumed = await r.sessions.resume(sessionToken, moved);
    expect(resumed.id).toBe(session.id);
    expect(resumed.client).toEqual(moved);
    expect(Date.parse(resumed.lastSeenAt)).toBe(clock.now);
    expect(Date.parse(resumed.expiresAt)).toBe(clock.now + IDLE * 1000);
    expect(await r.sessions.get(session.id)).toEqual(resumed);
    const types = (await r.audit.list(conversation.id, undefined, 10)).items.map((e) => e.type);
    expect(types).toEqual(['session_opened', 'session_resumed']);
  });

  test('unknown, malformed and revoked session tokens → session_invalid', async () => {
    const conversation = await newConversation(r.store);
    const client = randomClient();
    const { sessionToken, session } = await r.sessions.open(conversation.id, { tier: 1, intent: 'view_account', client });
    expect(await refusal(r.sessions.resume('A'.repeat(43), client))).toBe('session_invalid');
    expect(await refusal(r.sessions.resume('not a token', client))).toBe('session_invalid');
    expect(await refusal(r.sessions.resume(session.id, client))).toBe('session_invalid'); // the stored hash opens nothing
    await r.sessions.revoke(session.id, 'revoked');
    expect(await refusal(r.sessions.resume(sessionToken, client))).toBe('session_invalid');
    expect(await refusal(r.sessions.touch(session.id))).toBe('session_invalid');
    expect(r.revocations).toEqual([{ conversationId: conversation.id, sessionIds: [session.id], reason: 'revoked' }]);
    expect(await r.sessions.activeCount(conversation.id)).toBe(0);
  });

  test('a session in a locked conversation → conversation_locked', async () => {
    const conversation = await newConversation(r.store);
    const client = randomClient();
    const { sessionToken } = await r.sessions.open(conversation.id, { tier: 1, intent: 'view_account', client });
    await r.store.updateConversation(conversation.id, { secure: 'locked' });
    expect(await refusal(r.sessions.resume(sessionToken, client))).toBe('conversation_locked');
    await r.store.updateConversation(conversation.id, { secure: 'active' });
    await r.store.set(keys.secureLock(conversation.id), '{}', 60);
    expect(await refusal(r.sessions.resume(sessionToken, client))).toBe('conversation_locked');
  });

  test('revokeAll ends every session of the conversation and only that one', async () => {
    const conversation = await newConversation(r.store);
    const bystander = await newConversation(r.store);
    const client = randomClient();
    const opened = await Promise.all([1, 2, 3].map(() => r.sessions.open(conversation.id, { tier: 1, intent: 'view_account', client })));
    const other = await r.sessions.open(bystander.id, { tier: 1, intent: 'view_account', client });
    expect(await r.sessions.activeCount(conversation.id)).toBe(3);
    const revoked = await r.sessions.revokeAll(conversation.id, 'lost_device');
    expect(revoked.sort()).toEqual(opened.map((o) => o.session.id).sort());
    expect(r.revocations).toEqual([{ conversationId: conversation.id, sessionIds: revoked, reason: 'lost_device' }]);
    for (const o of opened) expect(await refusal(r.sessions.resume(o.sessionToken, client))).toBe('session_invalid');
    expect(await r.sessions.activeCount(conversation.id)).toBe(0);
    expect(await refusal(r.sessions.resume(other.sessionToken, client))).toBe('ok');
  });

  test('raiseTier records identity, never lowers the tier, audits and tells advisors', async () => {
    const conversation = await newConversation(r.store);
    const { sessionToken, session } = await r.sessions.open(conversation.id, { tier: 1, intent: 'update_profile', client: randomClient() });
    const raised = await r.sessions.raiseTier(session.id, 2, { subject: 'cust-42', acr: 'urn:bank:loa:2' });
    expect(raised).toMatchObject({ tier: 2, identity: { subject: 'cust-42' } });
    expect((await r.sessions.raiseTier(session.id, 1)).tier).toBe(2);
    expect((await r.sessions.resume(sessionToken, randomClient())).tier).toBe(2);
    expect(r.changes.map((c) => c.event)).toEqual(['stepped_up', 'stepped_up']);
    expect((await r.audit.list(conversation.id, undefined, 10)).items.map((e) => e.type)).toContain('stepped_up');
  });

  test('the idle lifetime follows the proven tier: tier 4 is capped at 30 minutes', async () => {
    const longClock = { now: Date.now() };
    const store = r.store;
    const audit = new AuditTrail(store, { retentionSeconds: 86_400 });
    const sessions = new SecureSessions(store, new ConversationEvents(), audit, { idleSeconds: 7200, now: () => longClock.now });
    const conversation = await newConversation(store);
    const { session } = await sessions.open(conversation.id, { tier: 1, intent: 'withdraw', client: randomClient() });
    expect(Date.parse(session.expiresAt) - longClock.now).toBe(7200_000);
    const raised = await sessions.raiseTier(session.id, 4, { subject: 's', amr: ['pwd', 'otp'] });
    expect(Date.parse(raised.expiresAt) - longClock.now).toBe(1800_000);
    if (kind === 'redis') expect(await (store as RedisStore).redis.ttl(keys.session(session.id))).toBeLessThanOrEqual(1800);
  });

  test('a concurrent touch cannot resurrect a revoked session', async () => {
    const conversation = await newConversation(r.store);
    const { session } = await r.sessions.open(conversation.id, { tier: 1, intent: 'view_account', client: randomClient() });
    const results = await Promise.all([...Array.from({ length: 10 }, () => refusal(r.sessions.touch(session.id))), refusal(r.sessions.revoke(session.id, 'revoked'))]);
    expect(results.every((x) => x === 'ok' || x === 'session_invalid')).toBe(true);
    expect(await r.sessions.get(session.id)).toBeUndefined();
  });

  test('failed resumes are rate limited per client network; valid resumes never count and are never refused', async () => {
    const conversation = await newConversation(r.store);
    const client = randomClient();
    const { sessionToken } = await r.sessions.open(conversation.id, { tier: 1, intent: 'view_account', client });
    for (let i = 0; i < 40; i++) expect(await refusal(r.sessions.resume(sessionToken, client))).toBe('ok');
    const wrong = 'B'.repeat(43);
    const results: string[] = [];
    for (let i = 0; i < 31; i++) results.push(await refusal(r.sessions.resume(wrong, client)));
    expect(results.filter((x) => x === 'session_invalid')).toHaveLength(30);
    expect(results[30]).toBe('rate_limited');
    // A live session's token proves itself: it resumes from the same network (a carrier NAT's other
    // customers are not locked out by whoever floods from its address), and wrong tokens keep reading rate_limited.
    expect(await refusal(r.sessions.resume(sessionToken, client))).toBe('ok');
    expect(await refusal(r.sessions.resume(sessionToken, randomClient()))).toBe('ok');
    expect(await refusal(r.sessions.resume(wrong, client))).toBe('rate_limited');
  });
});

test('memory store: an idle session expires after SESSION_IDLE_SECONDS', async () => {
  const clock = { now: Date.now() };
  const r = await rig('memory', clock);
  const conversation = await newConversation(r.store);
  const client = randomClient();
  const { sessionToken } = await r.sessions.open(conversation.id, { tier: 1, intent: 'view_account', client });
  clock.now += (IDLE - 1) * 1000;
  expect(await refusal(r.sessions.resume(sessionToken, client))).toBe('ok');
  clock.now += (IDLE - 1) * 1000; // renewed by the resume above
  expect(await refusal(r.sessions.resume(sessionToken, client))).toBe('ok');
  clock.now += (IDLE + 1) * 1000;
  expect(await refusal(r.sessions.resume(sessionToken, client))).toBe('session_invalid');
});

test('redis store: an idle session key expires with its TTL', async () => {
  const store = await RedisStore.connect(process.env.TEST_REDIS_URL!, { cipher: TextCipher.ephemeral(), threadRetentionDays: 90 });
  const raw = new Redis(process.env.TEST_REDIS_URL!);
  try {
    const sessions = new SecureSessions(store, new ConversationEvents(), new AuditTrail(store, { retentionSeconds: 60 }), { idleSeconds: IDLE });
    const conversation = await newConversation(store);
    const client = randomClient();
    const { sessionToken, session } = await sessions.open(conversation.id, { tier: 1, intent: 'view_account', client });
    // Stand in for 15 idle minutes: shorten the key's remaining life and let Redis expire it.
    await raw.pexpire(keys.session(session.id), 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await outcome(sessions.resume(sessionToken, client), socketErrorOf)).toBe('session_invalid');
  } finally {
    raw.disconnect();
    await store.close();
  }
});
