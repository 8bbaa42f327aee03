/**
 * Durable background jobs: what must happen after a webhook was acknowledged
 * (hand the message to the bot) or outside a request (outbound sends with
 * retries). With Redis the queue is BullMQ, so a job added by a node that is
 * killed right after is run by another node; the embedded store uses an
 * in-process queue (one process only, like the memory store).
 *
 * Job data never holds message text or tokens in clear: it names a
 * conversation and message id, and anything secret is sealed with the
 * store's TextCipher.
 */
export type JobName = 'inbound' | 'outbound';

export interface JobOptions {
  /** Same id, same job: adding it twice runs it once. */
  jobId?: string;
  /** Total tries, including the first. */
  attempts?: number;
  /** First retry delay; doubles each time. */
  backoffMs?: number;
}

/** Thrown by a handler to stop retrying (e.g. a platform's 4xx). */
export class PermanentJobError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentJobError';
  }
}

/**
 * Thrown by a handler to run the job again at `until` (epoch ms) without
 * counting a try: for waiting on something that is not a failure, such as
 * another worker's lease on the same work. A try counted for each wait would
 * let a wait longer than the whole backoff schedule use up every try and
 * fail the job without it ever having run (issue 5: an outbound send behind a
 * dead worker's 2-minute lease).
 */
export class DeferJobError extends Error {
  constructor(
    readonly until: number,
    reason: string,
  ) {
    super(reason);
    this.name = 'DeferJobError';
  }
}

export interface JobContext {
  attempt: number;
  /** True on the last attempt the queue will make. */
  final: boolean;
}

export type JobHandler<T> = (data: T, context: JobContext) => Promise<void>;

export interface ProcessOptions<T> {
  /**
   * Called once the queue has given up on a job for good, whatever the cause:
   * its last try failed, a `PermanentJobError`, or BullMQ failing a job
   * without running the handler again (a job whose worker was killed mid-run
   * more often than the stalled-job limit allows). The handler may already
   * have recorded the outcome; this is the net under every other path, so it
   * must be idempotent. Best effort: a node killed between giving up and this
   * call skips it. Rejections are logged, never retried.
   */
  onGiveUp?: (data: T, reason: string) => Promise<void>;
}

export interface JobQueue {
  add<T extends object>(name: JobName, data: T, options?: JobOptions): Promise<void>;
  /** Registers the one handler of `name`; jobs start running after `start()`. */
  process<T extends object>(name: JobName, handler: JobHandler<T>, options?: ProcessOptions<T>): void;
  start(): Promise<void>;
  /** Waits for running jobs (bounded), then stops taking new ones. */
  close(): Promise<void>;
}
