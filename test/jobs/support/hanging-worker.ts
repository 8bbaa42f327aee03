/**
 * A worker "node" that dies mid-job (test/jobs/bullmq.queue.test.ts): it takes
 * one `inbound` job with a short lock (and the short stalled-check interval
 * every node of that test uses: BullMQ shares one check schedule per queue),
 * tells the parent which, then hangs
 * until the parent kills it with SIGKILL: no graceful close, no lock release,
 * exactly what a crashed gateway leaves in Redis.
 */
import { BullJobQueue } from '../../../src/jobs/bullmq.queue';
import { silentLogger } from '../../../src/ops/logger';

async function run(): Promise<void> {
  const queue = await BullJobQueue.connect(process.env.HANGING_REDIS_URL!, silentLogger(), { prefix: process.env.HANGING_PREFIX!, lockDurationMs: 1000, stalledIntervalMs: 300 });
  queue.process('inbound', async (_data) => {
    process.send?.({ jobId: 'killed-mid-job'.replace(/:/g, '%3A') });
    await new Promise<never>(() => undefined);
  });
  await queue.start();
}

run().catch((err: unknown) => {
  process.stderr.write(`hanging worker failed: ${String(err)}\n`);
  process.exit(1);
});
