/**
 * The socket server's own rules: client addresses behind TRUST_PROXY, the
 * Origin rule, the session sweep, and the zero-config (memory store, no
 * adapter) start.
 */
import type { IncomingMessage } from 'node:http';
import { clientAddressOf, originAllowed, trustFunctionOf } from '../../src/chat/io';
import { keys } from '../../src/store/keys';
import type { RedisStore } from '../../src/store/redis.store';
import { connectCustomer, seedConversation, send, SMS_THREAD, startChatNode, until, type ChatNode } from '../support/chat-harness';

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
  describe('the session sweep', () => {
    let node: ChatNode;
    beforeEach(async () => {
      node = await startChatNode({ redisUrl: process.env.TEST_REDIS_URL!, socketOptions: { sweepIntervalMs: 50 } });
    });
    afterEach(async () => {
      await node.close();
    });

    /** A customer connected through a fresh view_account link. */
    async function connectedByLink() {
      const { conversation } = await seedConversation(node.store, SMS_THREAD);
      const pivot = await node.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
      const c = await connectCustomer(node, { pivotToken: pivot.token });
      const sessionId = [...node.sockets.io.of('/secure').sockets.values()][0]!.data.sessionId;
      return { conversation, c, sessionId };
    }

    /** Rewrites the session as the store would hold it after `quietMs` without activity, with `leftMs` of it left. */
    async function afterQuiet(sessionId: string, quietMs: number, leftMs: number): Promise<void> {
      const session = (await node.sessions.get(sessionId))!;
      const now = Date.now();
      await node.store.set(keys.session(sessionId), JSON.stringify({ ...session, lastSeenAt: new Date(now - quietMs).toISOString(), expiresAt: new Date(now + leftMs).toISOString() }), Math.ceil(leftMs / 1000));
    }

    test('disconnects a socket whose session expired or vanished', async () => {
      const { c, sessionId } = await connectedByLink();
      await node.store.delete(keys.session(sessionId)); // what the idle TTL does
      await until(() => c.disconnects.includes('io server disconnect'), 'sweep disconnect');
    });

    test('a connected page keeps its session alive: the sweep renews it, and an advisor reply stays on the secure channel', async () => {
      const { conversation, c, sessionId } = await connectedByLink();
      const redis = (node.store as RedisStore).redis;
      // The customer waits without typing until the session is seconds from idling out (what 15 quiet minutes leave).
      await afterQuiet(sessionId, 897_000, 3_000);
      const deadline = Date.now() + 5000;
      let ttl = await redis.ttl(keys.session(sessionId));
      while (ttl <= 3 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        ttl = await redis.ttl(keys.session(sessionId));
      }
      expect(ttl).toBeGreaterThan(60); // renewed to the full idle lifetime, well before it ran out
      const reply = await node.replies.deliverAdvisorReply(conversation.id, 'Thanks for waiting', { sub: 'advisor-w' });
      expect(reply.channel).toBe('secure');
      await until(() => c.live.length === 1, 'reply on the open page');
      expect(c.disconnects).toEqual([]);
    });

    test('a tier-4 session is not renewed by an open page: it idles out on the person\'s inactivity and the page is let go', async () => {
      const { conversation } = await seedConversation(node.store, SMS_THREAD);
      const opened = await node.sessions.open(conversation.id, { tier: 4, intent: 'transfer_funds', client: { ip: '10.0.0.4', userAgent: 'test' } });
      const c = await connectCustomer(node, { sessionToken: opened.sessionToken });
      // 29 quiet minutes have passed: one second is left.
      await afterQuiet(opened.session.id, 1_799_000, 1_000);
      await until(() => c.disconnects.includes('io server disconnect'), 'the idle tier-4 session to be let go', 5000);
      expect(await node.sessions.get(opened.session.id)).toBeUndefined();
    });
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
