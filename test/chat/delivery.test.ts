/**
 * Where an advisor reply goes: secure channel while a session is active
 * (connected or resumable), a content-free nudge when the customer is away,
 * the public channel (with its guard rail) otherwise.
 */
import { GatewayError } from '../../src/errors';
import { connectCustomer, seedConversation, SMS_THREAD, startChatNode, until, type ChatNode } from '../support/chat-harness';

async function codeOf(work: Promise<unknown>): Promise<string> {
  try {
    await work;
    return 'ok';
  } catch (err) {
    return err instanceof GatewayError ? err.code : String(err);
  }
}

describe('advisor replies', () => {
  let node: ChatNode;
  const advisor = { sub: 'advisor-9', name: 'Robin' };

  beforeAll(async () => {
    node = await startChatNode({ redisUrl: process.env.TEST_REDIS_URL! });
  });
  afterAll(async () => {
    await node.close();
  });

  async function redeemed() {
    const { conversation } = await seedConversation(node.store, SMS_THREAD);
    const pivot = await node.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
    const c = await connectCustomer(node, { pivotToken: pivot.token });
    return { conversation, c };
  }

  test('connected customer: the reply goes over the secure channel, live, and nothing goes to the platform', async () => {
    const { conversation, c } = await redeemed();
    const message = await node.replies.deliverAdvisorReply(conversation.id, 'Your card 4111 1111 1111 1111 is blocked', advisor);
    expect(message).toMatchObject({ author: 'advisor', channel: 'secure', text: 'Your card •••• •••• •••• 1111 is blocked', redacted: true });
    await until(() => c.live.length === 1, 'live reply');
    expect(c.live[0]).toEqual(message);
    expect(node.publicSends.filter((s) => s.conversationId === conversation.id)).toEqual([]);
    expect(node.nudges.filter((n) => n.id === conversation.id)).toEqual([]);
    c.socket.disconnect();
  });

  test('customer away with a resumable session: secure channel, one content-free nudge per cooldown', async () => {
    const { conversation, c } = await redeemed();
    c.socket.disconnect();
    await until(() => ![...node.sockets.io.of('/secure').sockets.values()].some((s) => s.data.conversationId === conversation.id), 'server saw the disconnect');
    const first = await node.replies.deliverAdvisorReply(conversation.id, 'Your new PIN letter is on its way', advisor);
    const second = await node.replies.deliverAdvisorReply(conversation.id, 'Anything else?', advisor);
    expect([first.channel, second.channel]).toEqual(['secure', 'secure']);
    // The advisor's `name` claim is what the customer sees as the author (PRODUCT.md).
    expect([first.authorName, second.authorName]).toEqual(['Robin', 'Robin']);
    const nudged = node.nudges.filter((n) => n.id === conversation.id);
    expect(nudged).toHaveLength(1);
    expect(JSON.stringify(nudged[0])).not.toContain('PIN');
    expect(node.publicSends.filter((s) => s.conversationId === conversation.id)).toEqual([]);
    // The text waits in the thread for the resume.
    const resumed = await connectCustomer(node, { sessionToken: c.sessions[0]!.sessionToken, lastMessageId: c.histories[0]!.messages.at(-1)!.id });
    expect(resumed.histories[0]!.messages).toEqual([first, second]);
    resumed.socket.disconnect();
  });

  test('no secure session: the public channel, through the outbox; sensitive text refused before anything is stored', async () => {
    const { conversation } = await seedConversation(node.store, SMS_THREAD);
    const message = await node.replies.deliverAdvisorReply(conversation.id, 'We are open 9-17', advisor);
    expect(message).toMatchObject({ author: 'advisor', channel: 'sms', text: 'We are open 9-17' });
    expect(node.publicSends).toContainEqual({ conversationId: conversation.id, messageId: message.id });
    expect(await codeOf(node.replies.deliverAdvisorReply(conversation.id, 'Is your card 4111 1111 1111 1111?', advisor))).toBe('GW_ERR_SENSITIVE_ON_PUBLIC_CHANNEL');
    expect(await codeOf(node.replies.deliverAdvisorReply(conversation.id, 'IBAN DE89 3704 0044 0532 0130 00 ok?', advisor))).toBe('GW_ERR_SENSITIVE_ON_PUBLIC_CHANNEL');
    const thread = await node.store.readLatestMessages(conversation.id, 10);
    expect(thread.messages.at(-1)).toEqual(message);
  });

  test('a locked secure channel sends replies to the public channel, guard rail included', async () => {
    const { conversation, c } = await redeemed();
    await node.ledger.lock(conversation.id, { kind: 'advisor', id: advisor.sub }, 'test');
    await until(() => !c.socket.connected, 'locked socket dropped');
    const message = await node.replies.deliverAdvisorReply(conversation.id, 'We locked the secure chat for you', advisor);
    expect(message.channel).toBe('sms');
    expect(await codeOf(node.replies.deliverAdvisorReply(conversation.id, 'card 4111111111111111', advisor))).toBe('GW_ERR_SENSITIVE_ON_PUBLIC_CHANNEL');
  });

  test('an Idempotency-Key retry returns the first message; bad input and closed conversations are refused', async () => {
    const { conversation } = await seedConversation(node.store, SMS_THREAD);
    const a = await node.replies.deliverAdvisorReply(conversation.id, 'once', advisor, { idempotencyKey: 'k-1' });
    const b = await node.replies.deliverAdvisorReply(conversation.id, 'once', advisor, { idempotencyKey: 'k-1' });
    expect(b).toEqual(a);
    expect((await node.store.readLatestMessages(conversation.id, 10)).messages.filter((m) => m.text === 'once')).toHaveLength(1);
    expect(await codeOf(node.replies.deliverAdvisorReply(conversation.id, '   ', advisor))).toBe('GW_ERR_VALIDATION');
    expect(await codeOf(node.replies.deliverAdvisorReply(conversation.id, 'x'.repeat(5000), advisor))).toBe('GW_ERR_VALIDATION');
    expect(await codeOf(node.replies.deliverAdvisorReply('00000000-0000-4000-8000-000000000000', 'hi', advisor))).toBe('GW_ERR_CONVERSATION_NOT_FOUND');
    await node.store.updateConversation(conversation.id, { status: 'closed' });
    expect(await codeOf(node.replies.deliverAdvisorReply(conversation.id, 'hi', advisor))).toBe('GW_ERR_CONVERSATION_CLOSED');
  });

  test('no connector for the platform: a public reply is GW_ERR_CHANNEL_UNAVAILABLE and nothing is stored', async () => {
    const bare = await startChatNode({ redisUrl: process.env.TEST_REDIS_URL!, withConnector: false });
    try {
      const { conversation } = await seedConversation(bare.store, SMS_THREAD);
      expect(await codeOf(bare.replies.deliverAdvisorReply(conversation.id, 'hello', advisor))).toBe('GW_ERR_CHANNEL_UNAVAILABLE');
      expect((await bare.store.readLatestMessages(conversation.id, 10)).messages).toHaveLength(SMS_THREAD.length);
    } finally {
      await bare.close();
    }
  });
});
