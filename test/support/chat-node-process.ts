/**
 * One secure-chat gateway node in its own process, for the two-process test
 * (test/chat/two-nodes.test.ts). Forked with `-r test/support/ts-register.cjs`;
 * builds a node on the shared Redis from env (same PUBLIC_URL, signing keys
 * and data key as its peer: two nodes behind one load balancer), then answers
 * IPC orders:
 *   {type:'issue', id, conversationId}            → {type:'done', id, value: token}
 *   {type:'reply', id, conversationId, text}      → {type:'done', id, value: Message}
 *   {type:'lock', id, conversationId}             → {type:'done', id}
 *   {type:'mint', id, sub}                        → {type:'done', id, value: advisor token}
 */
import { startChatNode } from './chat-harness';

type Order =
  | { type: 'issue'; id: number; conversationId: string }
  | { type: 'reply'; id: number; conversationId: string; text: string }
  | { type: 'lock'; id: number; conversationId: string }
  | { type: 'mint'; id: number; sub: string };

async function run(): Promise<void> {
  const node = await startChatNode({
    redisUrl: process.env.CHAT_NODE_REDIS_URL!,
    publicUrl: process.env.CHAT_NODE_PUBLIC_URL!,
    jwks: JSON.parse(process.env.CHAT_NODE_JWKS!),
    dataKeys: [{ id: 'shared', key: Buffer.from(process.env.CHAT_NODE_DATA_KEY!, 'base64') }],
    socketOptions: { adapterKey: process.env.CHAT_NODE_ADAPTER_KEY! },
  });
  process.on('message', (order: Order) => {
    void (async () => {
      try {
        let value: unknown;
        if (order.type === 'issue') value = (await node.ledger.issue(order.conversationId, 'view_account', { kind: 'bot' })).token;
        else if (order.type === 'reply') value = await node.replies.deliverAdvisorReply(order.conversationId, order.text, { sub: 'advisor-a', name: 'Node A advisor' });
        else if (order.type === 'lock') await node.ledger.lock(order.conversationId, { kind: 'advisor', id: 'advisor-a' }, 'test');
        else value = await node.advisorAuth.mintDevToken(order.sub, undefined, 600);
        process.send?.({ type: 'done', id: order.id, value });
      } catch (err) {
        process.send?.({ type: 'failed', id: order.id, error: String(err) });
      }
    })();
  });
  process.send?.({ type: 'ready', url: node.url });
}

run().catch((err: unknown) => {
  process.stderr.write(`chat-node failed: ${String(err)}\n`);
  process.exit(1);
});
