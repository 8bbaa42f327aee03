/** Each BullMQ test gets its own key prefix on the run's Redis, so files and tests never see each other's jobs. */
import { randomUUID } from 'node:crypto';
import { BullJobQueue, type BullJobQueueOptions } from '../../../src/jobs/bullmq.queue';
import { silentLogger } from '../../../src/ops/logger';

export function redisUrl(): string {
  const url = process.env.TEST_REDIS_URL;
  if (!url) throw new Error('TEST_REDIS_URL is not set: run through jest');
  return url;
}

export function uniquePrefix(): string {
  return `pgtest:{jobs-${randomUUID()}}`;
}

export function bullQueue(prefix: string, options: BullJobQueueOptions = {}): Promise<BullJobQueue> {
  return BullJobQueue.connect(redisUrl(), silentLogger(), { prefix, defaults: { attempts: 3, backoffMs: 10 }, ...options });
}

/** Resolves once `check` holds, polling; the test's own timeout bounds it. */
export async function eventually(check: () => boolean | Promise<boolean>, everyMs = 25): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, everyMs));
}
