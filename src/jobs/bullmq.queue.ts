/**
 * Durable jobs on Redis with BullMQ: a job added by a node that dies right
 * after is run by another node (or by the same one after a restart); a job
 * whose worker is killed mid-run is moved back to "waiting" by the stalled
 * check once its lock expires (`lockDurationMs`), and run again.
 *
 * One BullMQ queue per job name (`inbound`, `outbound`) under the prefix
 * `pg:{jobs}` (one hash tag, so a Redis Cluster keeps each queue's Lua
 * scripts in one slot). Connections are the queue's own, made from the
 * Redis URL: BullMQ workers block (BRPOPLPUSH-like calls) and need
 * `maxRetriesPerRequest: null`, which the store's fail-fast connection must
 * not have. Producers, on the other hand, fail fast: `add()` inside a webhook
 * must reject (→ 503, the platform retries) rather than hang on a dead Redis.
 *
 * A handler's `DeferJobError` becomes BullMQ's documented "move to delayed"
 * (`job.moveToDelayed(until, token)` then `DelayedError`), which does not
 * count an attempt. `onGiveUp` runs from the worker's `failed` event once a
 * job failed for good, including the one failure BullMQ decides without
 * running the handler: a job stalled more than `maxStalledCount` times.
 */
import { DelayedError, Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { closeRedisClient } from '../store/redis.store';
import { GatewayError } from '../errors';
import type { Logger } from '../ops/logger';
import { keys } from '../store/keys';
import { DeferJobError, type JobHandler, type JobName, type JobOptions, type JobQueue, PermanentJobError, type ProcessOptions } from './job-queue';
import { type RetryPolicy, retryPolicy } from './retry-policy';

export interface BullJobQueueOptions {
  /** Key prefix; tests isolate themselves with their own. Default `pg:{jobs}`. */
  prefix?: string;
  /** Parallel jobs per worker and name. Default 8 (outbound is I/O bound). */
  concurrency?: Partial<Record<JobName, number>>;
  /** How long a running job's lock lives without renewal; a killed worker's job is retried after it. Default 30 s. */
  lockDurationMs?: number;
  /** How often workers look for stalled jobs. Default 30 s. */
  stalledIntervalMs?: number;
  /** Default retry policy for `add` calls that do not say. */
  defaults?: Partial<RetryPolicy>;
  /** Bound on `add()` (and every producer command). Default 2 s. */
  commandTimeoutMs?: number;
  /** How long `close()` lets running jobs finish before it stops waiting (their locks then expire and another node retries them). Default 5 s. */
  closeTimeoutMs?: number;
}

/** Finished jobs are kept a day (completed) or a week (failed): their ids keep deduplicating `add()` meanwhile. */
const KEEP_COMPLETED = { age: 24 * 3600, count: 50_000 };
const KEEP_FAILED = { age: 7 * 24 * 3600, count: 50_000 };

/** BullMQ's failedReason for a job whose workers died mid-run more often than `maxStalledCount` allows. */
const STALLED_TOO_OFTEN = 'job stalled more than allowable limit';

interface Registration {
  handler: JobHandler<object>;
  options: ProcessOptions<object>;
}

/**
 * BullMQ refuses custom ids that are integers or hold ':' (its key separator),
 * except in a legacy 3-part form: ids are escaped so any caller id works.
 */
export function bullJobId(id: string): string {
  const escaped = id.replace(/%/g, '%25').replace(/:/g, '%3A');
  return /^\d+$/.test(escaped) ? `id-${escaped}` : escaped;
}

export class BullJobQueue implements JobQueue {
  private readonly queues = new Map<JobName, Queue>();
  private readonly handlers = new Map<JobName, Registration>();
  private readonly workers: Worker[] = [];
  private readonly workerConnections: Redis[] = [];
  private readonly prefix: string;
  private closed = false;

  private constructor(
    private readonly url: string,
    private readonly producer: Redis,
    private readonly logger: Logger,
    private readonly options: BullJobQueueOptions,
  ) {
    this.prefix = options.prefix ?? keys.jobsPrefix;
  }

  /** Connects the producer and waits until Redis answers (bounded), so a wrong URL fails start-up loudly. */
  static async connect(url: string, logger: Logger, options: BullJobQueueOptions = {}): Promise<BullJobQueue> {
    const timeout = options.commandTimeoutMs ?? 2000;
    const producer = new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: timeout,
      connectTimeout: timeout,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    });
    producer.on('error', () => undefined); // surfaced through failed add() calls, not as crashes
    try {
      await producer.connect();
    } catch (err) {
      producer.disconnect();
      throw new GatewayError('GW_ERR_STORE_UNAVAILABLE', `job queue: ${(err as Error).message}`, { cause: err });
    }
    return new BullJobQueue(url, producer, logger.child({ component: 'jobs' }), options);
  }

  private queue(name: JobName): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: this.producer, prefix: this.prefix });
      queue.on('error', (err) => this.logger.warn({ queue: name, err: err.message }, 'job queue error'));
      this.queues.set(name, queue);
    }
    return queue;
  }

  async add<T extends object>(name: JobName, data: T, options?: JobOptions): Promise<void> {
    if (this.closed) throw new GatewayError('GW_ERR_STORE_UNAVAILABLE', 'the job queue is closed');
    const policy = retryPolicy(options, this.options.defaults);
    try {
      await this.queue(name).add(name, data, {
        ...(options?.jobId === undefined ? {} : { jobId: bullJobId(options.jobId) }),
        attempts: policy.attempts,
        backoff: { type: 'exponential', delay: policy.backoffMs },
        removeOnComplete: KEEP_COMPLETED,
        removeOnFail: KEEP_FAILED,
      });
    } catch (err) {
      throw new GatewayError('GW_ERR_STORE_UNAVAILABLE', `job queue: ${(err as Error).message}`, { cause: err });
    }
  }

  process<T extends object>(name: JobName, handler: JobHandler<T>, options: ProcessOptions<T> = {}): void {
    if (this.handlers.has(name)) throw new Error(`a handler for "${name}" jobs is already registered`);
    this.handlers.set(name, { handler: handler as JobHandler<object>, options: options as ProcessOptions<object> });
  }

  async start(): Promise<void> {
    for (const [name, { handler, options }] of this.handlers) {
      // Workers block on Redis: they need their own connection with unlimited retries per request.
      const connection = new Redis(this.url, { maxRetriesPerRequest: null });
      connection.on('error', () => undefined);
      this.workerConnections.push(connection);
      const worker = new Worker(name, (job: Job, token?: string) => this.run(name, handler, job, token), {
        connection,
        prefix: this.prefix,
        concurrency: this.options.concurrency?.[name] ?? 8,
        ...(this.options.lockDurationMs === undefined ? {} : { lockDuration: this.options.lockDurationMs }),
        ...(this.options.stalledIntervalMs === undefined ? {} : { stalledInterval: this.options.stalledIntervalMs }),
      });
      worker.on('error', (err) => this.logger.warn({ queue: name, err: err.message }, 'job worker error'));
      worker.on('failed', (job, err) => {
        this.logger.warn({ queue: name, jobId: job?.id, attemptsMade: job?.attemptsMade, err: err.message }, 'job attempt failed');
        // finishedOn is set only when the job went to "failed" (not back to delayed/waiting for a retry).
        if (job?.finishedOn !== undefined && options.onGiveUp) void this.gaveUp(name, options.onGiveUp, job, err);
      });
      this.workers.push(worker);
      await worker.waitUntilReady();
    }
  }

  private async run(name: JobName, handler: JobHandler<object>, job: Job, token: string | undefined): Promise<void> {
    const attempt = job.attemptsMade + 1;
    const attempts = job.opts.attempts ?? 1;
    try {
      await handler(job.data as object, { attempt, final: attempt >= attempts });
    } catch (err) {
      // BullMQ's way to say "do not retry"; the message (never data) is kept as the job's failedReason.
      if (err instanceof PermanentJobError) throw new UnrecoverableError(err.message);
      if (err instanceof DeferJobError) {
        // BullMQ's documented pattern: moved to delayed without counting an attempt, then DelayedError tells the worker it was moved.
        await job.moveToDelayed(err.until, token);
        this.logger.info({ queue: name, jobId: job.id, attempt, deferMs: Math.max(0, err.until - Date.now()), reason: err.message }, 'job deferred');
        throw new DelayedError();
      }
      throw err;
    }
    this.logger.debug({ queue: name, jobId: job.id, attempt }, 'job done');
  }

  private async gaveUp(name: JobName, onGiveUp: NonNullable<ProcessOptions<object>['onGiveUp']>, job: Job, err: Error): Promise<void> {
    const reason = err.message === STALLED_TOO_OFTEN ? `its worker stopped mid-run more than once (${STALLED_TOO_OFTEN})` : err.message;
    try {
      await onGiveUp(job.data as object, reason);
    } catch (hookErr) {
      this.logger.error({ queue: name, jobId: job.id, err: (hookErr as Error).message }, 'give-up hook failed');
    }
  }

  /**
   * Waits for running jobs (BullMQ's graceful close) up to `closeTimeoutMs`,
   * then stops waiting: a job still running is abandoned with its lock, which
   * expires, and the stalled check of a live node runs it again.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const graceful = Promise.allSettled(this.workers.map((worker) => worker.close()));
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.options.closeTimeoutMs ?? 5_000);
    });
    if ((await Promise.race([graceful, bound])) === 'timeout') {
      this.logger.warn({ workers: this.workers.length }, 'jobs still running at close; leaving them to the stalled-job check');
      // Forced close can itself wait on a Redis that is gone: bound it too.
      await Promise.race([Promise.allSettled(this.workers.map((worker) => worker.close(true))), new Promise((resolve) => setTimeout(resolve, 1000))]);
    }
    clearTimeout(timer);
    await Promise.race([Promise.allSettled([...this.queues.values()].map((queue) => queue.close())), new Promise((resolve) => setTimeout(resolve, 1000))]);
    await Promise.allSettled([this.producer, ...this.workerConnections].map((c) => closeRedisClient(c)));
  }

  /** Test and ops helper: counts of the queue's jobs by state. */
  async counts(name: JobName): Promise<Record<string, number>> {
    return this.queue(name).getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed');
  }
}
