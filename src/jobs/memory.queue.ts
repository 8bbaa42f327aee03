/**
 * The in-process queue behind the zero-configuration start (memory store, one
 * process). Same contract as the BullMQ queue: a `jobId` already waiting,
 * running or recently finished is not added twice; `attempts` tries with
 * exponential backoff; `PermanentJobError` stops retrying; `DeferJobError`
 * runs the job again later without counting a try; `onGiveUp` is called when
 * a job fails for good. Nothing survives a restart, exactly like the memory
 * store it accompanies.
 */
import type { Logger } from '../ops/logger';
import { DeferJobError, type JobContext, type JobHandler, type JobName, type JobOptions, type JobQueue, PermanentJobError, type ProcessOptions } from './job-queue';
import { type RetryPolicy, retryDelayMs, retryPolicy } from './retry-policy';

interface Entry {
  id: string;
  name: JobName;
  data: object;
  attempt: number;
  policy: RetryPolicy;
}

export interface MemoryJobQueueOptions {
  /** Jobs run at the same time, across names. Default 8. */
  concurrency?: number;
  /** Default retry policy for `add` calls that do not say. */
  defaults?: Partial<RetryPolicy>;
  /** How many finished job ids are remembered for dedupe. Default 10,000. */
  rememberFinished?: number;
  /** Upper bound for `close()` to wait for running jobs. Default 10 s. */
  closeTimeoutMs?: number;
}

interface Registration {
  handler: JobHandler<object>;
  options: ProcessOptions<object>;
}

export class MemoryJobQueue implements JobQueue {
  private readonly handlers = new Map<JobName, Registration>();
  private readonly ready: Entry[] = [];
  /** Ids waiting, delayed or running: a second `add` of one of them is ignored. */
  private readonly live = new Set<string>();
  /** Recently finished ids (insertion-ordered, bounded): BullMQ keeps completed jobs a while too. */
  private readonly finished = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly running = new Set<Promise<void>>();
  private started = false;
  private closed = false;
  private sequence = 0;
  private idleWaiters: Array<() => void> = [];
  private readonly concurrency: number;

  constructor(
    private readonly logger: Logger,
    private readonly options: MemoryJobQueueOptions = {},
  ) {
    this.concurrency = options.concurrency ?? 8;
  }

  async add<T extends object>(name: JobName, data: T, options?: JobOptions): Promise<void> {
    if (this.closed) throw new Error('the job queue is closed');
    const id = options?.jobId ?? `auto-${++this.sequence}`;
    if (this.live.has(id) || this.finished.has(id)) return;
    this.live.add(id);
    // A structured clone, as BullMQ serialises job data: a caller mutating its object later changes nothing.
    this.ready.push({ id, name, data: structuredClone(data), attempt: 1, policy: retryPolicy(options, this.options.defaults) });
    this.pump();
  }

  process<T extends object>(name: JobName, handler: JobHandler<T>, options: ProcessOptions<T> = {}): void {
    if (this.handlers.has(name)) throw new Error(`a handler for "${name}" jobs is already registered`);
    this.handlers.set(name, { handler: handler as JobHandler<object>, options: options as ProcessOptions<object> });
    this.pump();
  }

  async start(): Promise<void> {
    this.started = true;
    this.pump();
  }

  /** Resolves when nothing is waiting, delayed or running (tests and graceful shutdown). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const bound = new Promise<void>((resolve) => setTimeout(resolve, this.options.closeTimeoutMs ?? 10_000).unref());
    await Promise.race([Promise.allSettled([...this.running]).then(() => undefined), bound]);
    const dropped = this.ready.length;
    if (dropped > 0) this.logger.warn({ dropped }, 'memory job queue closed with jobs waiting (an embedded start keeps nothing)');
    this.ready.length = 0;
    this.notifyIdle(true);
  }

  private isIdle(): boolean {
    return this.ready.length === 0 && this.running.size === 0 && this.timers.size === 0;
  }

  private notifyIdle(force = false): void {
    if (!force && !this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private pump(): void {
    if (!this.started || this.closed) return;
    for (let i = 0; i < this.ready.length && this.running.size < this.concurrency; ) {
      const entry = this.ready[i]!;
      const registration = this.handlers.get(entry.name);
      if (!registration) {
        i++; // waits for its handler, as a BullMQ job waits for a worker
        continue;
      }
      this.ready.splice(i, 1);
      const run = this.run(entry, registration).finally(() => {
        this.running.delete(run);
        this.pump();
        this.notifyIdle();
      });
      this.running.add(run);
    }
  }

  private async run(entry: Entry, { handler, options }: Registration): Promise<void> {
    const context: JobContext = { attempt: entry.attempt, final: entry.attempt >= entry.policy.attempts };
    try {
      await handler(entry.data, context);
      this.finish(entry.id);
    } catch (err) {
      if (err instanceof DeferJobError && !this.closed) {
        // Not a try: the same attempt runs again once the wait is over.
        const delay = Math.max(0, err.until - Date.now());
        this.logger.info({ job: entry.name, jobId: entry.id, attempt: entry.attempt, deferMs: delay, reason: err.message }, 'job deferred');
        this.later(entry, delay);
        return;
      }
      const permanent = err instanceof PermanentJobError;
      if (permanent || context.final || this.closed) {
        this.logger.warn({ job: entry.name, jobId: entry.id, attempt: entry.attempt, permanent, err: (err as Error).message }, 'job failed');
        this.finish(entry.id);
        // Closing is not giving up: the embedded start loses its jobs along with its store.
        if ((permanent || context.final) && options.onGiveUp) {
          await options.onGiveUp(entry.data, (err as Error).message).catch((hookErr: unknown) => {
            this.logger.error({ job: entry.name, jobId: entry.id, err: (hookErr as Error).message }, 'give-up hook failed');
          });
        }
        return;
      }
      const delay = retryDelayMs(entry.policy.backoffMs, entry.attempt);
      this.logger.info({ job: entry.name, jobId: entry.id, attempt: entry.attempt, retryInMs: delay }, 'job failed, will retry');
      this.later({ ...entry, attempt: entry.attempt + 1 }, delay);
    }
  }

  /** Puts `entry` back in line after `delay` ms (a retry or a deferral); `idle()` waits for it. */
  private later(entry: Entry, delay: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.closed) return;
      this.ready.push(entry);
      this.pump();
    }, delay);
    this.timers.add(timer);
  }

  private finish(id: string): void {
    this.live.delete(id);
    this.finished.add(id);
    const limit = this.options.rememberFinished ?? 10_000;
    if (this.finished.size > limit) {
      const oldest = this.finished.values().next().value;
      if (oldest !== undefined) this.finished.delete(oldest);
    }
  }
}
