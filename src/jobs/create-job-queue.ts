/**
 * Picks the queue engine the way the store is picked: with `REDIS_URL`,
 * BullMQ on that Redis (durable, shared by every node); without it, the
 * in-process queue (one process, nothing survives a restart).
 *
 * @example
 *   const queue = await createJobQueue(config.redisUrl, logger);
 *   queue.process('outbound', handler); // before start()
 *   await queue.start();
 */
import type { Logger } from '../ops/logger';
import { BullJobQueue, type BullJobQueueOptions } from './bullmq.queue';
import type { JobQueue } from './job-queue';
import { MemoryJobQueue, type MemoryJobQueueOptions } from './memory.queue';

export async function createJobQueue(redisUrl: string | undefined, logger: Logger, options: BullJobQueueOptions & MemoryJobQueueOptions = {}): Promise<JobQueue> {
  if (redisUrl) return BullJobQueue.connect(redisUrl, logger, options);
  return new MemoryJobQueue(logger.child({ component: 'jobs' }), options);
}
