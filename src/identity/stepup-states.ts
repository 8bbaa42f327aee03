/**
 * Pending step-ups: what the gateway must remember between sending the
 * person to the provider and their return on `/secure/return`.
 *
 * One record per authorization request, keyed by its `state` (256 random
 * bits), kept in the store (any node may receive the return) for ten
 * minutes. It is single use: the first return swaps it, atomically, for a
 * "used" marker that lives out the same ten minutes, so a replayed `state`
 * is recognised as such (and audited on its conversation) rather than as
 * unknown. The browser that started the step-up is bound by the SHA-256 of
 * a `returnKey` the page stores as a cookie; the key itself is never stored.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Tier } from '../pivot/policy';
import { keys } from '../store/keys';
import type { Store } from '../store/store';

export const STEPUP_STATE_TTL_SECONDS = 600;
const STATE_PATTERN = /^[A-Za-z0-9_-]{32,128}$/;

export interface PendingStepUp {
  sessionId: string;
  conversationId: string;
  /** The tier the step-up is for. */
  tier: Tier;
  nonce: string;
  codeVerifier: string;
  /** SHA-256 (base64url) of the page's returnKey cookie. */
  returnKeyHash: string;
  maxAgeSeconds: number;
  /** ISO 8601. */
  createdAt: string;
}

interface UsedMarker {
  used: true;
  sessionId: string;
  conversationId: string;
}

export type ConsumeOutcome =
  | { outcome: 'ok'; pending: PendingStepUp }
  | { outcome: 'unknown' }
  | { outcome: 'replayed'; sessionId: string; conversationId: string };

export function hashReturnKey(returnKey: string): string {
  return createHash('sha256').update(returnKey, 'utf8').digest('base64url');
}

/** Constant time: does `returnKey` (from the cookie) belong to `pending`? */
export function returnKeyMatches(pending: Pick<PendingStepUp, 'returnKeyHash'>, returnKey: string | undefined): boolean {
  if (returnKey === undefined || returnKey.length === 0 || returnKey.length > 256) return false;
  const actual = Buffer.from(hashReturnKey(returnKey));
  const expected = Buffer.from(pending.returnKeyHash);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

export class StepUpStates {
  constructor(
    private readonly store: Store,
    private readonly ttlSeconds = STEPUP_STATE_TTL_SECONDS,
  ) {}

  async save(state: string, pending: PendingStepUp): Promise<void> {
    if (!STATE_PATTERN.test(state)) throw new Error('state must be 32-128 base64url characters');
    await this.store.set(keys.stepUpState(state), JSON.stringify(pending), this.ttlSeconds);
  }

  /** Takes the pending step-up of `state`, exactly once across every node. */
  async consume(state: string): Promise<ConsumeOutcome> {
    if (!STATE_PATTERN.test(state)) return { outcome: 'unknown' };
    const key = keys.stepUpState(state);
    const raw = await this.store.get(key);
    if (raw === undefined) return { outcome: 'unknown' };
    const record = JSON.parse(raw) as PendingStepUp | UsedMarker;
    if ('used' in record) return { outcome: 'replayed', sessionId: record.sessionId, conversationId: record.conversationId };
    const marker: UsedMarker = { used: true, sessionId: record.sessionId, conversationId: record.conversationId };
    // Keeps the key's remaining lifetime: a replay within the ten minutes is recognised.
    const swapped = await this.store.compareAndSet(key, raw, JSON.stringify(marker));
    if (!swapped.ok) return { outcome: 'replayed', sessionId: record.sessionId, conversationId: record.conversationId };
    return { outcome: 'ok', pending: record };
  }
}
