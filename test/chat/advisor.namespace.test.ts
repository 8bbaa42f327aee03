/**
 * The `/advisor` namespace: bearer-token handshake, `conversation` events for
 * every advisor, `message` events for watched conversations only. Real
 * Socket.IO, socket.io-client, Redis and dev advisor tokens.
 */
import { SignJWT, generateKeyPair } from 'jose';
import { connectAdvisor, connectCustomer, seedConversation, send, SMS_THREAD, startChatNode, until, type ChatNode } from '../support/chat-harness';
import { io as connectClient } from 'socket.io-client';
import { NodeWebSocket } from 'engine.io-client';

describe('/advisor namespace', () => {
  let node: ChatNode;

  beforeAll(async () => {
    node = await startChatNode({ redisUrl: process.env.TEST_REDIS_URL! });
  });
  afterAll(async () => {
    await node.close();
  });

  async function refusal(auth: Record<string, unknown>, origin = node.origin): Promise<string> {
    const socket = connectClient(`${node.url}/advisor`, { transports: [NodeWebSocket], reconnection: false, forceNew: true, extraHeaders: { origin }, auth });
    try {
      return await new Promise<string>((resolve, reject) => {
        socket.once('connect', () => reject(new Error('connected')));
        socket.once('connect_error', (err) => resolve(err.message));
      });
    } finally {
      socket.disconnect();
    }
  }

  test('a handshake without a valid advisor token is refused', async () => {
    expect(await refusal({})).toBe('unauthenticated');
    expect(await refusal({ token: 'not-a-jwt' })).toBe('unauthenticated');
    // Signed by someone else's key, with the right issuer and audience shape.
    const { privateKey } = await generateKeyPair('EdDSA');
    const forged = await new SignJWT({ name: 'Mallory' }).setProtectedHeader({ alg: 'EdDSA' }).setIssuer(`${node.publicUrl}/dev-advisor`).setAudience('pivot-gateway-advisor').setSubject('mallory').setExpirationTime('5m').sign(privateKey);
    expect(await refusal({ token: forged })).toBe('unauthenticated');
    // A customer's session token is not an advisor token.
    expect(await refusal({ token: 'A'.repeat(43) })).toBe('unauthenticated');
  });

  test('a valid token from a foreign Origin is refused too', async () => {
    const token = await node.advisorAuth.mintDevToken('advisor-x', undefined, 600);
    expect(await refusal({ token }, 'https://evil.example')).toMatch(/websocket error/);
  });

  test('every advisor gets `conversation` events; only watchers get `message`', async () => {
    const alex = await connectAdvisor(node, await node.advisorAuth.mintDevToken('advisor-alex', 'Alex', 600));
    const sam = await connectAdvisor(node, await node.advisorAuth.mintDevToken('advisor-sam', 'Sam', 600));
    try {
      const { conversation } = await seedConversation(node.store, SMS_THREAD);
      expect(await alex.socket.timeout(5000).emitWithAck('watch', { conversationId: conversation.id })).toEqual({ ok: true });

      const pivot = await node.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
      const c = await connectCustomer(node, { pivotToken: pivot.token });
      const ack = await send(c.socket, 'hello from the webview');
      await until(() => alex.messages.length === 1, 'watcher receives the message');
      expect(alex.messages[0]).toEqual(ack.message);

      const wanted = ['pivot_sent', 'pivot_redeemed', 'message'];
      for (const advisor of [alex, sam]) {
        await until(() => wanted.every((e) => advisor.changes.some((ch) => ch.conversation.id === conversation.id && ch.event === e)), 'conversation events');
        const mine = advisor.changes.filter((ch) => ch.conversation.id === conversation.id);
        expect(mine.map((ch) => ch.event)).toEqual(wanted);
        expect(mine[1]!.conversation.secure).toBe('active');
      }

      // Sam does not watch: a later message of a conversation Sam DOES watch arrives, the first one never did.
      const other = await seedConversation(node.store);
      expect(await sam.socket.timeout(5000).emitWithAck('watch', { conversationId: other.conversation.id })).toEqual({ ok: true });
      const otherPivot = await node.ledger.issue(other.conversation.id, 'view_account', { kind: 'bot' });
      const c2 = await connectCustomer(node, { pivotToken: otherPivot.token });
      await send(c2.socket, 'for sam');
      await until(() => sam.messages.length === 1, 'sam receives his watched conversation');
      expect(sam.messages.map((m) => m.text)).toEqual(['for sam']);

      // unwatch: no more `message` for it, `conversation` events still.
      expect(await alex.socket.timeout(5000).emitWithAck('unwatch', { conversationId: conversation.id })).toEqual({ ok: true });
      expect(await alex.socket.timeout(5000).emitWithAck('watch', { conversationId: other.conversation.id })).toEqual({ ok: true });
      await send(c.socket, 'after unwatch');
      await send(c2.socket, 'second for both');
      await until(() => alex.messages.some((m) => m.text === 'second for both'), 'alex receives the other conversation');
      expect(alex.messages.map((m) => m.text)).toEqual(['hello from the webview', 'second for both']);
      expect(alex.changes.some((ch) => ch.conversation.id === conversation.id && ch.event === 'message' && ch.conversation.lastMessageAt >= ack.message!.createdAt)).toBe(true);
      c.socket.disconnect();
      c2.socket.disconnect();
    } finally {
      alex.socket.disconnect();
      sam.socket.disconnect();
    }
  });

  test('watch answers invalid_request and not_found, and survives junk', async () => {
    const advisor = await connectAdvisor(node, await node.advisorAuth.mintDevToken('advisor-kim', undefined, 600));
    try {
      const ask = (payload: unknown) => advisor.socket.timeout(5000).emitWithAck('watch', payload as { conversationId: string });
      expect(await ask({})).toEqual({ ok: false, error: 'invalid_request' });
      expect(await ask('abc')).toEqual({ ok: false, error: 'invalid_request' });
      expect(await ask({ conversationId: 'x'.repeat(200) })).toEqual({ ok: false, error: 'invalid_request' });
      expect(await ask({ conversationId: '00000000-0000-4000-8000-000000000000' })).toEqual({ ok: false, error: 'not_found' });
      const raw = advisor.socket as unknown as { timeout(ms: number): { emitWithAck(event: string, ...args: unknown[]): Promise<unknown> } };
      expect(await raw.timeout(5000).emitWithAck('message', { text: 'advisors send through the REST API' })).toEqual({ ok: false, error: 'invalid_request' });
      expect(await raw.timeout(5000).emitWithAck('watch')).toEqual({ ok: false, error: 'invalid_request' });
      expect(await raw.timeout(5000).emitWithAck('unwatch', { conversationId: '00000000-0000-4000-8000-000000000000' }, 'extra')).toEqual({ ok: false, error: 'invalid_request' });
      expect(advisor.socket.connected).toBe(true);
    } finally {
      advisor.socket.disconnect();
    }
  });

  test('a socket is closed when its advisor token expires, and only once the handshake refuses the token too', async () => {
    const token = await node.advisorAuth.mintDevToken('advisor-short', undefined, 1);
    const advisor = await connectAdvisor(node, token);
    let reason = '';
    advisor.socket.on('disconnect', (r) => (reason = r));
    await until(() => reason !== '', 'expiry disconnect', 5000);
    expect(reason).toBe('io server disconnect');
    // Reconnecting with the same token is refused: no connect-disconnect loop for a console that retries.
    expect(await refusal({ token })).toBe('unauthenticated');
  });
});
