/**
 * The `/secure` namespace against a real Socket.IO server, a real
 * socket.io-client, real Redis (store and sharded adapter), real pivot tokens,
 * ledger and sessions.
 */
import { randomBytes } from 'node:crypto';
import { PivotTokens } from '../../src/pivot/token';
import { keys } from '../../src/store/keys';
import { SigningKeys, generateJwkSet } from '../../src/pivot/keys';
import {
  SMS_THREAD,
  connectAdvisor,
  connectCustomer,
  customer,
  refusalOf,
  seedConversation,
  send,
  startChatNode,
  until,
  type ChatNode,
  type RecordedCustomer,
} from '../support/chat-harness';

const redisUrl = () => process.env.TEST_REDIS_URL!;

describe('/secure namespace', () => {
  let node: ChatNode;
  const open: RecordedCustomer[] = [];

  beforeAll(async () => {
    node = await startChatNode({ redisUrl: redisUrl() });
  });
  afterEach(() => {
    for (const c of open.splice(0)) c.socket.disconnect();
  });
  afterAll(async () => {
    await node.close();
  });

  async function redeemed(drafts = SMS_THREAD) {
    const seeded = await seedConversation(node.store, drafts);
    const pivot = await node.ledger.issue(seeded.conversation.id, 'view_account', { kind: 'bot' });
    const c = await connectCustomer(node, { pivotToken: pivot.token });
    open.push(c);
    return { ...seeded, pivot, c };
  }

  test('a redeemed pivot gets `session`, then the whole thread in order, every channel included', async () => {
    const { conversation, messages, c } = await redeemed();
    expect(c.sessions).toHaveLength(1);
    expect(c.sessions[0]).toEqual({ sessionToken: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), conversationId: conversation.id, expiresAt: expect.any(String), tier: 1 });
    expect(c.histories).toHaveLength(1);
    expect(c.histories[0]).toEqual({ messages, hasMore: false });
    expect(c.histories[0]!.messages.map((m) => [m.author, m.channel, m.text])).toEqual(SMS_THREAD.map((d) => [d.author, d.channel, d.text]));
  });

  test('history holds at most the last 500 messages; hasMore says older ones exist', async () => {
    const drafts = Array.from({ length: 503 }, (_, i) => ({ author: 'customer' as const, channel: 'sms' as const, text: `m${i}` }));
    const { messages, c } = await redeemed(drafts);
    const history = c.histories[0]!;
    expect(history.hasMore).toBe(true);
    expect(history.messages).toHaveLength(500);
    expect(history.messages[0]!.id).toBe(messages[3]!.id);
    expect(history.messages.at(-1)!.id).toBe(messages.at(-1)!.id);
  });

  test('resume with lastMessageId returns exactly the missed messages; an unknown id returns the last 500 again', async () => {
    const { conversation, c } = await redeemed();
    const sessionToken = c.sessions[0]!.sessionToken;
    const last = c.histories[0]!.messages.at(-1)!;
    c.socket.disconnect();

    const advisor = { sub: 'advisor-1', name: 'Alex' };
    const missed = [
      await node.replies.deliverAdvisorReply(conversation.id, 'first while away', advisor),
      (await node.store.appendMessage(conversation.id, { author: 'customer', channel: 'sms', text: 'typed on SMS meanwhile' })).message,
      await node.replies.deliverAdvisorReply(conversation.id, 'second while away', advisor),
    ];
    const resumed = await connectCustomer(node, { sessionToken, lastMessageId: last.id });
    open.push(resumed);
    expect(resumed.sessions[0]).toMatchObject({ sessionToken, conversationId: conversation.id, tier: 1 });
    expect(resumed.histories[0]).toEqual({ messages: missed, hasMore: false });

    const unknown = await connectCustomer(node, { sessionToken, lastMessageId: '1-0' });
    open.push(unknown);
    expect(unknown.histories[0]!.messages.map((m) => m.id)).toEqual((await node.store.readLatestMessages(conversation.id, 500)).messages.map((m) => m.id));

    const caughtUp = await connectCustomer(node, { sessionToken, lastMessageId: missed.at(-1)!.id });
    open.push(caughtUp);
    expect(caughtUp.histories[0]).toEqual({ messages: [], hasMore: false });
  });

  test('a customer message is appended to the same thread, acked, relayed to others and not echoed to its sender', async () => {
    const { conversation, c } = await redeemed();
    const otherTab = await connectCustomer(node, { sessionToken: c.sessions[0]!.sessionToken });
    open.push(otherTab);
    const token = await node.advisorAuth.mintDevToken('advisor-2', 'Sam', 600);
    const advisor = await connectAdvisor(node, token);
    try {
      expect(await advisor.socket.timeout(5000).emitWithAck('watch', { conversationId: conversation.id })).toEqual({ ok: true });
      const ack = await send(c.socket, 'my account is 12345678');
      expect(ack).toEqual({ ok: true, message: expect.objectContaining({ conversationId: conversation.id, author: 'customer', channel: 'secure', text: 'my account is 12345678' }) });
      await until(() => otherTab.live.length === 1 && advisor.messages.length === 1, 'relay to the other tab and the advisor');
      expect(otherTab.live[0]).toEqual(ack.message);
      expect(advisor.messages[0]).toEqual(ack.message);
      const thread = await node.store.readLatestMessages(conversation.id, 10);
      expect(thread.messages.at(-1)).toEqual(ack.message);
      // The sender got the ack, not an echo: its next live event is the advisor's reply, nothing before it.
      const reply = await node.replies.deliverAdvisorReply(conversation.id, 'thanks', { sub: 'advisor-2' });
      await until(() => c.live.length === 1, 'advisor reply');
      expect(c.live).toEqual([reply]);
    } finally {
      advisor.socket.disconnect();
    }
  });

  test('resending the same clientMessageId returns the first message and leaves one thread entry', async () => {
    const { conversation, c } = await redeemed();
    const clientMessageId = 'b1f0c7a2-9d7e-4d0b-8d55-3f0e8c2f4a11';
    const first = await send(c.socket, 'pay my bill', clientMessageId);
    const concurrent = await Promise.all([send(c.socket, 'pay my bill', clientMessageId), send(c.socket, 'pay my bill', clientMessageId)]);
    // Even from a reconnected socket of the same session.
    c.socket.disconnect();
    const again = await connectCustomer(node, { sessionToken: c.sessions[0]!.sessionToken });
    open.push(again);
    const after = await send(again.socket, 'pay my bill', clientMessageId);
    // And from a new session of the same conversation (the page switched to a fresh link while it was in flight).
    const fresh = await node.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
    const switched = await connectCustomer(node, { pivotToken: fresh.token });
    open.push(switched);
    const resent = await send(switched.socket, 'pay my bill', clientMessageId);
    for (const ack of [...concurrent, after, resent]) expect(ack).toEqual(first);
    const thread = await node.store.readLatestMessages(conversation.id, 50);
    expect(thread.messages.filter((m) => m.text === 'pay my bill')).toHaveLength(1);
  });

  test('text is NFC-normalised, stripped of control characters, card numbers masked to the last four', async () => {
    const { c } = await redeemed();
    const ack = await send(c.socket, '  Cafe\u0301\u0007 card 4111 1111 1111 1111\u0000 ok\n  ');
    expect(ack.ok).toBe(true);
    expect(ack.message!.text).toBe('Café card •••• •••• •••• 1111 ok');
    expect(ack.message!.redacted).toBe(true);
  });

  test('malformed and oversize events are refused without disconnecting anyone else', async () => {
    const { conversation, c } = await redeemed();
    const bystander = await connectCustomer(node, { sessionToken: c.sessions[0]!.sessionToken });
    open.push(bystander);
    const raw = c.socket as unknown as { timeout(ms: number): { emitWithAck(event: string, ...args: unknown[]): Promise<unknown> }; emit(event: string, ...args: unknown[]): void };

    expect(await send(c.socket, '')).toEqual({ ok: false, error: 'invalid_message' });
    expect(await send(c.socket, '   \u0000\u0007 ')).toEqual({ ok: false, error: 'invalid_message' });
    expect(await send(c.socket, 'x'.repeat(4097))).toEqual({ ok: false, error: 'invalid_message' });
    expect(await send(c.socket, 42)).toEqual({ ok: false, error: 'invalid_message' });
    expect(await send(c.socket, 'hi', 'short')).toEqual({ ok: false, error: 'invalid_message' });
    expect(await send(c.socket, 'hi', { $gt: '' })).toEqual({ ok: false, error: 'invalid_message' });
    expect(await raw.timeout(5000).emitWithAck('message', 'just a string')).toEqual({ ok: false, error: 'invalid_message' });
    expect(await raw.timeout(5000).emitWithAck('message', null)).toEqual({ ok: false, error: 'invalid_message' });
    expect(await raw.timeout(5000).emitWithAck('history', {})).toEqual({ ok: false, error: 'invalid_message' });
    // Wrong arity: no payload, or an extra argument before the ack. Answered, never left hanging.
    expect(await raw.timeout(5000).emitWithAck('message')).toEqual({ ok: false, error: 'invalid_message' });
    expect(await raw.timeout(5000).emitWithAck('message', { text: 'hi', clientMessageId: 'abcdefgh-extra' }, 'extra')).toEqual({ ok: false, error: 'invalid_message' });
    expect(await raw.timeout(5000).emitWithAck('consent')).toEqual({ ok: false, error: 'invalid_request' });
    raw.emit('message', { text: 'no ack', clientMessageId: 'abcdefgh-no-ack' }); // ignored: the contract's message has an ack
    expect(c.socket.connected).toBe(true);
    expect((await send(c.socket, 'still here')).ok).toBe(true);

    // 40 KB > maxHttpBufferSize: the server closes that connection only.
    c.socket.emit('message', { text: 'y'.repeat(40_000), clientMessageId: 'abcdefgh-oversize' }, () => undefined);
    await until(() => c.disconnects.length === 1, 'oversize sender dropped');
    expect(bystander.socket.connected).toBe(true);
    const reply = await node.replies.deliverAdvisorReply(conversation.id, 'can you see this?', { sub: 'advisor-3' });
    await until(() => bystander.live.some((m) => m.id === reply.id), 'bystander still served');
    const thread = await node.store.readLatestMessages(conversation.id, 50);
    expect(thread.messages.some((m) => m.text.startsWith('y'))).toBe(false);
    expect(thread.messages.filter((m) => m.channel === 'secure' && m.author === 'customer').map((m) => m.text)).toEqual(['still here']);
  });

  test('a socket sending too fast gets rate_limited acks and stays connected', async () => {
    const { c } = await redeemed();
    const acks = await Promise.all(Array.from({ length: 30 }, (_, i) => send(c.socket, `burst ${i}`)));
    expect(acks.filter((a) => a.ok)).toHaveLength(20);
    expect(acks.filter((a) => !a.ok).map((a) => a.error)).toEqual(Array(10).fill('rate_limited'));
    expect(c.socket.connected).toBe(true);
  });

  test('a flood of packets disconnects only the flooding socket', async () => {
    const { c } = await redeemed();
    const bystander = await connectCustomer(node, { sessionToken: c.sessions[0]!.sessionToken });
    open.push(bystander);
    for (let i = 0; i < 150; i++) c.socket.emit('message', { text: 'flood', clientMessageId: `flood-${String(i).padStart(4, '0')}` }, () => undefined);
    await until(() => c.disconnects.length === 1, 'flooder dropped');
    expect(bystander.socket.connected).toBe(true);
  });

  describe('handshake refusals carry the contract strings', () => {
    test('token_invalid: garbage, a token of another issuer, no credentials', async () => {
      expect(await refusalOf(node, { pivotToken: 'not-a-jwt' })).toBe('token_invalid');
      const foreign = new PivotTokens(await SigningKeys.fromJwkSet(await generateJwkSet('EdDSA')), { issuer: node.publicUrl, audience: `${node.publicUrl}/secure` });
      const { conversation } = await seedConversation(node.store);
      const forged = await foreign.mint({ conversationId: conversation.id, intent: 'view_account', ttlSeconds: 60 });
      expect(await refusalOf(node, { pivotToken: forged.token })).toBe('token_invalid');
      expect(await refusalOf(node, {})).toBe('token_invalid');
    });

    test('token_invalid: a handshake that names another conversation than the token\'s; the token is not spent', async () => {
      const { conversation } = await seedConversation(node.store);
      const { conversation: other } = await seedConversation(node.store);
      const pivot = await node.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
      expect(await refusalOf(node, { pivotToken: pivot.token, conversationId: other.id })).toBe('token_invalid');
      expect(await refusalOf(node, { pivotToken: pivot.token, conversationId: 42 })).toBe('token_invalid');
      const c = await connectCustomer(node, { pivotToken: pivot.token, conversationId: conversation.id });
      open.push(c);
      expect(c.sessions[0]).toMatchObject({ conversationId: conversation.id });
    });

    test('token_expired', async () => {
      const { conversation } = await seedConversation(node.store);
      const jwks = await generateJwkSet('EdDSA');
      const expiredNode = await startChatNode({ redisUrl: redisUrl(), jwks });
      const past = new PivotTokens(await SigningKeys.fromJwkSet(jwks), { issuer: expiredNode.publicUrl, audience: `${expiredNode.publicUrl}/secure`, now: () => Date.now() - 3600_000 });
      try {
        const old = await past.mint({ conversationId: conversation.id, intent: 'view_account', ttlSeconds: 60 });
        expect(await refusalOf(expiredNode, { pivotToken: old.token })).toBe('token_expired');
      } finally {
        await expiredNode.close();
      }
    });

    test('token_used: the same link opened again', async () => {
      const { pivot } = await redeemed();
      expect(await refusalOf(node, { pivotToken: pivot.token })).toBe('token_used');
    });

    test('session_invalid: an unknown session token', async () => {
      expect(await refusalOf(node, { sessionToken: randomBytes(32).toString('base64url') })).toBe('session_invalid');
      expect(await refusalOf(node, { sessionToken: 'short' })).toBe('session_invalid');
    });

    test('conversation_locked: a lock ends the live socket and refuses the resume', async () => {
      const { conversation, c } = await redeemed();
      await node.ledger.lock(conversation.id, { kind: 'advisor', id: 'advisor-4' }, 'test');
      await until(() => c.disconnects.includes('io server disconnect'), 'locked socket dropped');
      expect(await refusalOf(node, { sessionToken: c.sessions[0]!.sessionToken })).toMatch(/^(conversation_locked|session_invalid)$/);
      const fresh = await seedConversation(node.store);
      const pivot = await node.ledger.issue(fresh.conversation.id, 'view_account', { kind: 'bot' });
      await node.store.set(keys.secureLock(fresh.conversation.id), '{}', 60);
      expect(await refusalOf(node, { pivotToken: pivot.token })).toBe('conversation_locked');
    });

    test('rate_limited: after too many failures from one client network (the address behind a trusted proxy)', async () => {
      const limited = await startChatNode({ redisUrl: redisUrl(), trustProxy: 'loopback', limits: { perClient: { points: 3, durationSeconds: 600 }, perConversation: { points: 100, durationSeconds: 600 } } });
      const ip = `192.0.2.${Math.floor(Math.random() * 250) + 1}`;
      const headers = { 'x-forwarded-for': ip };
      try {
        for (let i = 0; i < 3; i++) expect(await refusalOf(limited, { pivotToken: `bad-${i}` }, { headers })).toBe('token_invalid');
        expect(await refusalOf(limited, { pivotToken: 'bad-again' }, { headers })).toBe('rate_limited');
        // Another address behind the same proxy is not affected.
        expect(await refusalOf(limited, { pivotToken: 'bad' }, { headers: { 'x-forwarded-for': '198.51.100.7' } })).toBe('token_invalid');
      } finally {
        await limited.close();
      }
    });
  });

  describe('the Origin rule (Cross-Site WebSocket Hijacking must fail)', () => {
    test('a foreign Origin is refused before authentication: the token it carried stays unspent', async () => {
      const { conversation } = await seedConversation(node.store, SMS_THREAD);
      const pivot = await node.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
      for (const transports of [['websocket'], ['polling']] as const) {
        const refused = customer(node, { pivotToken: pivot.token }, { origin: 'https://evil.example', transports: [...transports] });
        const error = await new Promise<Error>((resolve) => {
          refused.socket.once('connect_error', resolve);
          refused.socket.connect();
        });
        refused.socket.disconnect();
        expect(refused.sessions).toHaveLength(0);
        expect(error.message).toMatch(/websocket error|fetch read error/);
      }
      expect((await node.ledger.record(conversation.id, pivot.pivotId))?.state).toBe('issued');
      const c = await connectCustomer(node, { pivotToken: pivot.token });
      open.push(c);
      expect(c.sessions).toHaveLength(1);
    });

    test('no Origin is refused unless the browser marks the request same-origin (Sec-Fetch-Site)', async () => {
      const { conversation } = await seedConversation(node.store, SMS_THREAD);
      const pivot = await node.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
      const bare = customer(node, { pivotToken: pivot.token }, { origin: null, transports: ['polling'] });
      await new Promise<void>((resolve) => {
        bare.socket.once('connect_error', () => resolve());
        bare.socket.connect();
      });
      bare.socket.disconnect();
      expect((await node.ledger.record(conversation.id, pivot.pivotId))?.state).toBe('issued');
      const sameOrigin = await connectCustomer(node, { pivotToken: pivot.token }, { origin: null, transports: ['polling'], headers: { 'sec-fetch-site': 'same-origin' } });
      open.push(sameOrigin);
      expect(sameOrigin.sessions).toHaveLength(1);
    });
  });

});
