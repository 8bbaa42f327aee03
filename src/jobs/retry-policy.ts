/**
 * Retry semantics shared by both queues, so the embedded start behaves like
 * production: `attempts` tries in total, the n-th retry waits
 * `backoffMs * 2^(n-1)` (BullMQ's built-in "exponential" backoff).
 */
import type { JobOptions } from './job-queue';

export const DEFAULT_ATTEMPTS = 5;
export const DEFAULT_BACKOFF_MS = 1000;

export interface RetryPolicy {
  attempts: number;
  backoffMs: number;
}

export function retryPolicy(options: JobOptions | undefined, defaults: Partial<RetryPolicy> = {}): RetryPolicy {
  const attempts = Math.max(1, Math.floor(options?.attempts ?? defaults.attempts ?? DEFAULT_ATTEMPTS));
  const backoffMs = Math.max(0, options?.backoffMs ?? defaults.backoffMs ?? DEFAULT_BACKOFF_MS);
  return { attempts, backoffMs };
}

/** Delay before try number `attempt + 1`, after `attempt` tries failed (attempt >= 1). */
export function retryDelayMs(backoffMs: number, attempt: number): number {
  return backoffMs * 2 ** (attempt - 1);
}
