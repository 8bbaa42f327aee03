/**
 * One gateway "node" in its own process, for the two-process redemption test
 * (test/pivot/two-nodes.test.ts). Forked with `-r test/support/ts-register.cjs`;
 * builds a full pivot stack on the shared Redis from env, then answers IPC:
 *   {type:'redeem', id, token, count, client, startAt} → {type:'result', id, outcomes}
 *   {type:'exit'}
 */
import { socketErrorOf } from '../../src/pivot/refusals';
import { buildPivotGateway, outcome } from './pivot-fixtures';

interface RedeemOrder {
  type: 'redeem';
  id: number;
  token: string;
  count: number;
  client: { ip: string; userAgent: string };
  /** Epoch ms: both nodes fire at the same moment. */
  startAt: number;
}

type Order = RedeemOrder | { type: 'exit' };

async function run(): Promise<void> {
  const gw = await buildPivotGateway({ kind: 'redis', redisUrl: process.env.PIVOT_NODE_REDIS_URL!, jwks: JSON.parse(process.env.PIVOT_NODE_JWKS!) });
  process.on('message', (order: Order) => {
    if (order.type === 'exit') {
      void gw.close().finally(() => process.exit(0));
      return;
    }
    setTimeout(
      async () => {
        const outcomes = await Promise.all(Array.from({ length: order.count }, () => outcome(gw.ledger.redeem(order.token, order.client), socketErrorOf)));
        process.send?.({ type: 'result', id: order.id, outcomes });
      },
      Math.max(0, order.startAt - Date.now()),
    );
  });
  process.send?.({ type: 'ready', pid: process.pid });
}

run().catch((err: unknown) => {
  process.stderr.write(`pivot-node failed: ${String(err)}\n`);
  process.exit(1);
});
