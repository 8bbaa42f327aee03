/**
 * Two gateway nodes on one Redis (here in one process, each with its own
 * Socket.IO server, store connection and adapter): a conversation change
 * crosses to the other node in one adapter publish and reaches each audience
 * there exactly once; whether a customer is connected on another node is
 * answered by Redis without asking the nodes.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { shardedRoomChannel } from '../../src/chat/io';
import { conversationRoom } from '../../src/chat/secure.namespace';
import { generateJwkSet } from '../../src/pivot/keys';
import { connectAdvisor, connectCustomer, seedConversation, send, SMS_THREAD, startChatNode, until, type ChatNode } from '../support/chat-harness';

/** Polls an async condition (the adapter subscribes and unsubscribes without telling anyone when it is done). */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('conversation changes between two nodes', () => {
  const adapterKey = `pg:sio-fan-${randomBytes(4).toString('hex')}`;
  let a: ChatNode;
  let b: ChatNode;
  let monitor: Redis;
  let published: string[];

  beforeAll(async () => {
    const shared = { redisUrl: process.env.TEST_REDIS_URL!, dataKeys: [{ id: 'fan', key: randomBytes(32) }], jwks: await generateJwkSet('EdDSA'), socketOptions: { adapterKey } };
    [a, b] = await Promise.all([startChatNode(shared), startChatNode(shared)]);
    // What the adapters publish, as another subscriber of the namespace channels sees it.
    monitor = new Redis(process.env.TEST_REDIS_URL!);
    published = [];
    monitor.on('smessage', (channel: string) => published.push(channel));
    await monitor.ssubscribe(`${adapterKey}#/advisor#`, `${adapterKey}#/secure#`);
  });
  afterAll(async () => {
    monitor.disconnect();
    await Promise.all([a.close(), b.close()]);
  });

  async function customerOn(node: ChatNode, conversationId: string) {
    const { sessionToken } = await a.sessions.open(conversationId, { tier: 1, intent: 'view_account', client: { ip: '10.1.2.3', userAgent: 'test' } });
    return connectCustomer(node, { sessionToken });
  }

  test("a customer on B gets A's reply once; watchers see messages, every advisor sees changes; a sender is not echoed", async () => {
    const { conversation } = await seedConversation(a.store, SMS_THREAD);
    const customer = await customerOn(b, conversation.id);
    const watcherOnA = await connectAdvisor(a, await a.advisorAuth.mintDevToken('advisor-watch', 'Wren', 600));
    const bystanderOnB = await connectAdvisor(b, await b.advisorAuth.mintDevToken('advisor-by', 'Bo', 600));
    try {
      expect(await watcherOnA.socket.timeout(5000).emitWithAck('watch', { conversationId: conversation.id })).toEqual({ ok: true });
      published.length = 0;

      const reply = await a.replies.deliverAdvisorReply(conversation.id, 'Sent through node A', { sub: 'advisor-watch', name: 'Wren' });
      await until(() => customer.live.length === 1 && watcherOnA.messages.length === 1, 'the reply on both nodes');
      await until(() => bystanderOnB.changes.some((c) => c.conversation.id === conversation.id && c.event === 'message'), 'the change on B');
      expect(customer.live).toEqual([reply]);
      expect(watcherOnA.messages).toEqual([reply]);
      // One publish for the customer, the watcher and every advisor alike.
      await until(() => published.length >= 1, 'the publish seen by the monitor');
      expect(published).toEqual([`${adapterKey}#/advisor#`]);

      // The customer's own message: to the watcher on the other node, not back to its sender (an echo would
      // arrive before the ack, which Socket.IO sends on the same connection after the emit).
      const ack = await send(customer.socket, 'Typed on node B');
      expect(ack.ok).toBe(true);
      await until(() => watcherOnA.messages.length === 2, 'the watcher on A receives B');
      expect(watcherOnA.messages[1]).toEqual(ack.message);

      // A second reply as a barrier: by then any duplicate of the first would have arrived.
      const second = await a.replies.deliverAdvisorReply(conversation.id, 'And a second one', { sub: 'advisor-watch', name: 'Wren' });
      await until(() => customer.live.length >= 2, 'the second reply');
      expect(customer.live).toEqual([reply, second]);
      await until(() => watcherOnA.messages.length === 3, 'the watcher gets the second reply');
      // Not watching: the three changes (two replies, one customer message), each once, and no message event.
      const messageChanges = () => bystanderOnB.changes.filter((c) => c.conversation.id === conversation.id && c.event === 'message');
      await until(() => messageChanges().length >= 3, 'three message changes on B');
      expect(messageChanges()).toHaveLength(3);
      expect(bystanderOnB.messages).toEqual([]);
      for (const change of bystanderOnB.changes) expect(change).not.toHaveProperty('message');
    } finally {
      customer.socket.disconnect();
      watcherOnA.socket.disconnect();
      bystanderOnB.socket.disconnect();
    }
  });

  test('presence: a customer on another node is found through Redis; gone once it leaves; the nudge follows it', async () => {
    const { conversation } = await seedConversation(a.store, SMS_THREAD);
    const room = conversationRoom(conversation.id);
    expect(await a.sockets.hasLiveCustomer(conversation.id)).toBe(false);

    const customer = await customerOn(b, conversation.id);
    // The room's sharded channel is what answers: B subscribed to it when the socket joined.
    await eventually(async () => (await monitor.call('PUBSUB', 'SHARDNUMSUB', shardedRoomChannel(adapterKey, '/secure', room)) as [string, number])[1] === 1, 'B subscribed to the room');
    expect(await a.sockets.hasLiveCustomer(conversation.id)).toBe(true);
    expect(await b.sockets.hasLiveCustomer(conversation.id)).toBe(true);
    await a.replies.deliverAdvisorReply(conversation.id, 'You are online', { sub: 'advisor-p' });
    expect(a.nudges.filter((n) => n.id === conversation.id)).toEqual([]);

    customer.socket.disconnect();
    await eventually(async () => !(await a.sockets.hasLiveCustomer(conversation.id)), 'the customer gone from every node');
    await a.replies.deliverAdvisorReply(conversation.id, 'You are away', { sub: 'advisor-p' });
    expect(a.nudges.filter((n) => n.id === conversation.id)).toHaveLength(1);
  });
});
