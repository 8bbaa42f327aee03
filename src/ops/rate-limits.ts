/**
 * Rate limits, kept in the store so every gateway node counts together
 * (rate-limiter-flexible: `RateLimiterRedis` on the RedisStore's ioredis
 * client, `RateLimiterMemory` with the one-process memory store).
 *
 * Brute-force limits on the pivot path count FAILED attempts only, and they
 * refuse only attempts that fail anyway: a pivot token whose ledger record is
 * `issued` for its conversation, or a session token that matches a live
 * session, goes through whatever the counters say. A caller tries first, and
 * on a refusal checks `assert…Allowed` (which reads, never counts; over the
 * limit the answer becomes `rate_limited`) and calls `recordFailure`. So one
 * device flooding from a carrier NAT's address cannot lock the customers
 * behind it out of their own links, and a success never costs anything.
 * (A token that fails its signature check is refused before the store is
 * asked: there the client network's limit is checked first.) The trade-off,
 * on purpose: a client over its limit still has each attempt looked up (one
 * read), so the limits no longer stop guesses from being tried; they cannot
 * succeed anyway (links are signed, session tokens carry 256 random bits),
 * and what the limits bound is the noise: refusals answered `rate_limited`
 * are only logged, never audited or sent to advisors.
 *
 * Chosen limits (DEFAULT_FAILURE_LIMITS), and why:
 * - per client network, 30 failures / 10 min: a carrier-grade NAT puts
 *   thousands of phones behind one IPv4 address, but a customer fails a
 *   redemption rarely (an old link, a double tap): 30 leaves room for many of
 *   them at once, while an attacker guessing session tokens (256 bits) or
 *   replaying links gains nothing from 30 tries. IPv6 clients are counted per
 *   /64, the block one subscriber gets, so hopping addresses within it does
 *   not reset the count.
 * - per conversation, 10 failures / 10 min: only failures attributable to a
 *   conversation count here (the token's signature verified), i.e. someone
 *   holding a real link for it and failing: replays, revoked or used links.
 *
 * On Redis the pivot ledger's redeem script reads both counters inside its
 * one atomic step (`clientCounter`, `conversationCounter`): a successful
 * redemption spends no round trip on them.
 */
import { isIP } from 'node:net';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { GatewayError } from '../errors';
import { keys } from '../store/keys';
import { RedisStore } from '../store/redis.store';
import type { Store } from '../store/store';

export interface LimitSpec {
  /** Allowed count per window. */
  points: number;
  durationSeconds: number;
}

export interface LimitDecision {
  allowed: boolean;
  /** Consumed so far in the window. */
  consumed: number;
  /** 0 when allowed. */
  retryAfterMs: number;
}

function storeError(err: unknown): GatewayError {
  return new GatewayError('GW_ERR_STORE_UNAVAILABLE', `rate limiter: ${(err as Error)?.message ?? 'error'}`, { cause: err });
}

/**
 * A fixed-window limiter for one purpose (`name`) keyed by anything: socket
 * message rates, webhook rates, failed attempts.
 * @example const perSocket = createLimiter(store, 'secure-msg', { points: 20, durationSeconds: 10 });
 *          if (!(await perSocket.consume(sessionId)).allowed) ack({ ok: false, error: 'rate_limited' });
 */
export class KeyedLimiter {
  constructor(
    private readonly limiter: RateLimiterAbstract,
    readonly spec: LimitSpec,
    /**
     * RateLimiterRedis keeps a key's consumed points as a plain integer
     * string under `getKey(key)`: reading it with one GET (instead of the
     * library's MULTI GET PTTL EXEC) keeps the check that runs before every
     * redemption cheap. The window's end is read only when refusing.
     */
    private readonly readPoints?: (storeKey: string) => Promise<string | undefined>,
  ) {}

  /** Where the store keeps `key`'s counter (for a Lua script that reads it). */
  storeKey(key: string): string {
    return this.limiter.getKey(key);
  }

  /** Counts `points` and says whether the key is still within its limit. */
  async consume(key: string, points = 1): Promise<LimitDecision> {
    try {
      const res = await this.limiter.consume(key, points);
      return { allowed: true, consumed: res.consumedPoints, retryAfterMs: 0 };
    } catch (err) {
      if (err instanceof RateLimiterRes) return { allowed: false, consumed: err.consumedPoints, retryAfterMs: err.msBeforeNext };
      throw storeError(err);
    }
  }

  /** Reads without counting: refused once `points` were consumed in the window. */
  async peek(key: string): Promise<LimitDecision> {
    let res: RateLimiterRes | null;
    try {
      if (this.readPoints) {
        const raw = await this.readPoints(this.limiter.getKey(key));
        const consumed = raw === undefined ? 0 : Number.parseInt(raw, 10);
        if (Number.isFinite(consumed) && consumed < this.spec.points) return { allowed: true, consumed, retryAfterMs: 0 };
      }
      res = await this.limiter.get(key);
    } catch (err) {
      throw storeError(err);
    }
    if (!res) return { allowed: true, consumed: 0, retryAfterMs: 0 };
    const allowed = res.consumedPoints < this.spec.points;
    return { allowed, consumed: res.consumedPoints, retryAfterMs: allowed ? 0 : res.msBeforeNext };
  }

  /** Counts without refusing anything (a failure that already happened). */
  async penalize(key: string, points = 1): Promise<void> {
    try {
      await this.limiter.penalty(key, points);
    } catch (err) {
      throw storeError(err);
    }
  }

  async reset(key: string): Promise<void> {
    try {
      await this.limiter.delete(key);
    } catch (err) {
      throw storeError(err);
    }
  }
}

/**
 * One limiter per store, name and limit: with the memory store the counters
 * live in the limiter object, so two callers asking for the same limiter must
 * get the same one (on Redis they share the keys anyway).
 */
const limitersByStore = new WeakMap<Store, Map<string, KeyedLimiter>>();

/** A limiter on the store's backend: shared by all nodes on Redis, per process on the memory store. */
export function createLimiter(store: Store, name: string, spec: LimitSpec): KeyedLimiter {
  if (!/^[a-z0-9-]{1,32}$/.test(name)) throw new Error(`limiter name must be [a-z0-9-]{1,32}, got ${JSON.stringify(name)}`);
  if (!Number.isInteger(spec.points) || spec.points < 1 || !Number.isInteger(spec.durationSeconds) || spec.durationSeconds < 1) {
    throw new Error(`limiter ${name}: points and durationSeconds must be positive integers`);
  }
  const known = limitersByStore.get(store) ?? new Map<string, KeyedLimiter>();
  limitersByStore.set(store, known);
  const id = `${name}/${spec.points}/${spec.durationSeconds}`;
  const existing = known.get(id);
  if (existing) return existing;
  const options = { keyPrefix: `${keys.rateLimitPrefix}:${name}`, points: spec.points, duration: spec.durationSeconds };
  const limiter =
    store instanceof RedisStore
      ? new KeyedLimiter(new RateLimiterRedis({ ...options, storeClient: store.redis }), { ...spec }, (storeKey) => store.get(storeKey))
      : new KeyedLimiter(new RateLimiterMemory(options), { ...spec });
  known.set(id, limiter);
  return limiter;
}

/**
 * The key a client network is counted under: the address for IPv4 (and
 * IPv4-mapped IPv6), the /64 prefix for IPv6.
 * @example clientNetworkOf('2001:db8:1:2:aaaa::1') === '2001:db8:1:2::/64'
 */
export function clientNetworkOf(ip: string): string {
  const trimmed = ip.trim().replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(trimmed);
  if (mapped?.[1]) return mapped[1];
  if (isIP(trimmed) !== 6) return trimmed.toLowerCase() || 'unknown';
  const [head = '', tail = ''] = trimmed.toLowerCase().split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = trimmed.includes('::') ? (tail ? tail.split(':') : []) : [];
  // An embedded IPv4 tail counts as two groups; it only ever lands in the interface half.
  const tailLength = tailGroups.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  const groups = trimmed.includes('::') ? [...headGroups, ...Array<string>(8 - headGroups.length - tailLength).fill('0'), ...tailGroups] : headGroups;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

export interface FailureLimits {
  perClient: LimitSpec;
  perConversation: LimitSpec;
}

export const DEFAULT_FAILURE_LIMITS: Readonly<FailureLimits> = Object.freeze({
  perClient: Object.freeze({ points: 30, durationSeconds: 600 }),
  perConversation: Object.freeze({ points: 10, durationSeconds: 600 }),
});

/** Failed pivot redemptions and session resumes, per client network and per conversation. */
export class RateLimits {
  private readonly perClient: KeyedLimiter;
  private readonly perConversation: KeyedLimiter;

  constructor(store: Store, limits: FailureLimits = DEFAULT_FAILURE_LIMITS) {
    this.perClient = createLimiter(store, 'secure-fail-ip', limits.perClient);
    this.perConversation = createLimiter(store, 'secure-fail-conv', limits.perConversation);
  }

  /** @throws GatewayError GW_ERR_RATE_LIMITED when this client network failed too often. */
  async assertClientAllowed(ip: string): Promise<void> {
    const decision = await this.clientDecision(ip);
    if (!decision.allowed) throw rateLimited(decision);
  }

  /** Whether this client network may go on trying (reads, never counts). */
  async clientDecision(ip: string): Promise<LimitDecision> {
    return this.perClient.peek(clientNetworkOf(ip));
  }

  /** The client network's failure counter as the store keeps it (see `conversationCounter`). */
  clientCounter(ip: string): { storeKey: string; points: number } {
    return { storeKey: this.perClient.storeKey(clientNetworkOf(ip)), points: this.perClient.spec.points };
  }

  /** @throws GatewayError GW_ERR_RATE_LIMITED when attempts on this conversation failed too often. */
  async assertConversationAllowed(conversationId: string): Promise<void> {
    const decision = await this.conversationDecision(conversationId);
    if (!decision.allowed) throw rateLimited(decision);
  }

  /** Whether attempts on this conversation may go on (reads, never counts). */
  async conversationDecision(conversationId: string): Promise<LimitDecision> {
    return this.perConversation.peek(conversationId);
  }

  /**
   * The conversation's failure counter as the store keeps it: RateLimiterRedis
   * holds the consumed points as an integer string under `storeKey`, with the
   * window as its TTL. The Redis pivot ledger reads it in its redeem script.
   */
  conversationCounter(conversationId: string): { storeKey: string; points: number } {
    return { storeKey: this.perConversation.storeKey(conversationId), points: this.perConversation.spec.points };
  }

  /** Counts one failed attempt; `conversationId` only when the failure is attributable to it. */
  async recordFailure(failure: { ip: string; conversationId?: string }): Promise<void> {
    await Promise.all([
      this.perClient.penalize(clientNetworkOf(failure.ip)),
      failure.conversationId === undefined ? undefined : this.perConversation.penalize(failure.conversationId),
    ]);
  }

  /** For an advisor who unlocks a conversation: start its count afresh. */
  async resetConversation(conversationId: string): Promise<void> {
    await this.perConversation.reset(conversationId);
  }
}

function rateLimited(decision: Pick<LimitDecision, 'retryAfterMs'>): GatewayError {
  return new GatewayError('GW_ERR_RATE_LIMITED', `retry in ${Math.ceil(decision.retryAfterMs / 1000)} s`, { extra: { retryAfterSeconds: Math.ceil(decision.retryAfterMs / 1000) } });
}

/** The refusal of an attempt whose limit a check elsewhere (the redeem script) found reached. */
export function rateLimitedError(retryAfterMs: number): GatewayError {
  return rateLimited({ retryAfterMs });
}
