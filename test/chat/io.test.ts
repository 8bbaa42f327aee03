/**
 * The socket server's own rules: client addresses behind TRUST_PROXY, the
 * Origin rule, the session sweep, and the zero-config (memory store, no
 * adapter) start.
 */
import type { IncomingMessage } from 'node:http';
import { clientAddressOf, originAllowed, trustFunctionOf } from '../../src/chat/io';
import { keys } from '../../src/store/keys';
import type { RedisStore } from '../../src/store/redis.store';
import { connectCustomer, seedConversation, send, SMS_THREAD, startChatNode, until } from '../support/chat-harness';

function request(headers: Record<string, string>, remoteAddress = '10.0.0.5'): IncomingMessage {
  return { headers, socket: { remoteAddress } } as unknown as IncomingMessage;
}

describe('clientAddressOf: the same answer as Express req.ip', () => {
  test('no proxy trusted: the peer address, whatever X-Forwarded-For says', () => {
    expect(clientAddressOf(request({ 'x-forwarded-for': '203.0.113.9' }), trustFunctionOf(undefined))).toBe('10.0.0.5');
  });
  test('one hop trusted: the address the proxy saw', () => {
    expect(clientAddressOf(request({ 'x-forwarded-for': '198.51.100.1, 203.0.113.9' }), trustFunctionOf(1))).toBe('203.0.113.9');
  });
  test('trusted subnets: the first untrusted address from the right', () => {
    const trust = trustFunctionOf('10.0.0.0/8');
    expect(clientAddressOf(request({ 'x-forwarded-for': '198.51.100.1, 203.0.113.9, 10.1.1.1' }), trust)).toBe('203.0.113.9');
    expect(clientAddressOf(request({}), trust)).toBe('10.0.0.5');
  });
});

describe('originAllowed', () => {
  const origin = 'https://gw.bank.example';
  test('exactly PUBLIC_URL origin', () => {
    expect(originAllowed(request({ origin }), origin)).toBe(true);
    expect(originAllowed(request({ origin: 'https://gw.bank.example.evil.example' }), origin)).toBe(false);
    expect(originAllowed(request({ origin: 'http://gw.bank.example' }), origin)).toBe(false);
    expect(originAllowed(request({ origin: 'null' }), origin)).toBe(false);
  });
  test('without Origin only when the browser says same-origin', () => {
    expect(originAllowed(request({}), origin)).toBe(false);
    expect(originAllowed(request({ 'sec-fetch-site': 'same-site' }), origin)).toBe(false);
    expect(originAllowed(request({ 'sec-fetch-site': 'same-origin' }), origin)).toBe(true);
    expect(originAllowed(request({ origin: 'https://evil.example', 'sec-fetch-site': 'same-origin' }), origin)).toBe(false);
  });
});

describe('socket server lifecycle', () => {
  test('the sweep disconnects a socket whose session expired or vanished', async () => {
    const node = await startChatNode({ redisUrl: process.env.TEST_REDIS_URL!, socketOptions: { sweepIntervalMs: 50 } });
    try {
      const { conversation } = await seedConversation(node.store, SMS_THREAD);
      const pivot = await node.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
      const c = await connectCustomer(node, { pivotToken: pivot.token });
      const sessionId = [...node.sockets.io.of('/secure').sockets.values()][0]!.data.sessionId;
      await node.store.delete(keys.session(sessionId)); // what the idle TTL does
      await until(() => c.disconnects.includes('io server disconnect'), 'sweep disconnect');
    } finally {
      await node.close();
    }
  });

  test('a connected page keeps its session alive: the sweep renews it, and an advisor reply stays on the secure channel', async () => {
    const node = await startChatNode({ redisUrl: process.env.TEST_REDIS_URL!, socketOptions: { sweepIntervalMs: 50 } });
    try {
      const { conversation } = await seedConversation(node.store, SMS_THREAD);
      const pivot = await node.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
      const c = await connectCustomer(node, { pivotToken: pivot.token });
      const sessionId = [...node.sockets.io.of('/secure').sockets.values()][0]!.data.sessionId;
      const sessionKey = keys.session(sessionId);
      const redis = (node.store as RedisStore).redis;
      // The customer waits without typing until the session is seconds from idling out (what 15 quiet minutes leave).
      const session = (await node.sessions.get(sessionId))!;
      await node.store.set(sessionKey, JSON.stringify({ ...session, lastSeenAt: new Date(Date.now() - 897_000).toISOString(), expiresAt: new Date(Date.now() + 3_000).toISOString() }), 3);
      const deadline = Date.now() + 5000;
      let ttl = await redis.ttl(sessionKey);
      while (ttl <= 3 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        ttl = await redis.ttl(sessionKey);
      }
      expect(ttl).toBeGreaterThan(60); // renewed to the full idle lifetime, well before it ran out
      const reply = await node.replies.deliverAdvisorReply(conversation.id, 'Thanks for waiting', { sub: 'advisor-w' });
      expect(reply.channel).toBe('secure');
      await until(() => c.live.length === 1, 'reply on the open page');
      expect(c.disconnects).toEqual([]);
    } finally {
      await node.close();
    }
  });

  test('a tier-4 session is not renewed by an open page: it idles out on the person\'s inactivity and the page is let go', async () => {
    const node = await startChatNode({ redisUrl: process.env.TEST_REDIS_URL!, socketOptions: { sweepIntervalMs: 50 } });
    try {
      const { conversation } = await seedConversation(node.store, SMS_THREAD);
      const opened = await node.sessions.open(conversation.id, { tier: 4, intent: 'transfer_funds', client: { ip: '10.0.0.4', userAgent: 'test' } });
      const c = await connectCustomer(node, { sessionToken: opened.sessionToken });
      const sessionKey = keys.session(opened.session.id);
      // 29 quiet minutes have passed: one second is left.
      const session = (await node.sessions.get(opened.session.id))!;
      await node.store.set(sessionKey, JSON.stringify({ ...session, lastSeenAt: new Date(Date.now() - 1_799_000).toISOString(), expiresAt: new Date(Date.now() + 1_000).toISOString() }), 1);
      await until(() => c.disconnects.includes('io server disconnect'), 'the idle tier-4 session to be let go', 5000);
      expect(await node.sessions.get(opened.session.id)).toBeUndefined();
    } finally {
      await node.close();
    }
  });

  test('zero-config: memory store, no adapter, same contract', async () => {
    const node = await startChatNode();
    try {
      const { conversation, messages } = await seedConversation(node.store, SMS_THREAD);
      const pivot = await node.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
      const c = await connectCustomer(node, { pivotToken: pivot.token });
      expect(c.histories[0]).toEqual({ messages, hasMore: false });
      const ack = await send(c.socket, 'works without Redis');
      expect(ack.ok).toBe(true);
      const reply = await node.replies.deliverAdvisorReply(conversation.id, 'yes it does', { sub: 'advisor-m' });
      await until(() => c.live.length === 1, 'live reply');
      expect(c.live).toEqual([reply]);
      c.socket.disconnect();
    } finally {
      await node.close();
    }
  });
});
