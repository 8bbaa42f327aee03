/**
 * A pivot "gateway" without HTTP: real store (Redis from the test run, or the
 * memory store), real jose keys, real ledger, sessions, audit trail and rate
 * limits, wired the way main.ts wires them. Also used by the two-process test
 * (test/support/pivot-node.ts) and the bench.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { JWK } from 'jose';
import { AuditTrail } from '../../src/audit/audit-trail';
import { SecureSessions } from '../../src/chat/sessions';
import { ConversationEvents, type ConversationChange, type SessionRevocation } from '../../src/conversation-events';
import type { Conversation } from '../../src/messages';
import { silentLogger } from '../../src/ops/logger';
import { DEFAULT_FAILURE_LIMITS, RateLimits, type FailureLimits } from '../../src/ops/rate-limits';
import { SigningKeys } from '../../src/pivot/keys';
import { PivotLedger } from '../../src/pivot/ledger';
import { PivotTokens } from '../../src/pivot/token';
import { MemoryStore } from '../../src/store/memory.store';
import { RedisStore } from '../../src/store/redis.store';
import type { Store } from '../../src/store/store';
import { TextCipher } from '../../src/store/text-cipher';

export const PUBLIC_URL = 'https://bank.example';
export const AUDIENCE = `${PUBLIC_URL}/secure`;
export const PIVOT_TTL_SECONDS = 300;
export const SESSION_IDLE_SECONDS = 900;

export type StoreKind = 'redis' | 'memory';

export interface PivotGateway {
  store: Store;
  keys: SigningKeys;
  tokens: PivotTokens;
  audit: AuditTrail;
  events: ConversationEvents;
  sessions: SecureSessions;
  rateLimits: RateLimits;
  ledger: PivotLedger;
  /** Everything published, in order. */
  changes: ConversationChange[];
  revocations: SessionRevocation[];
  /** The clock every component reads (ms); tests move it. */
  clock: { now: number };
  close(): Promise<void>;
}

export interface PivotGatewayOptions {
  kind: StoreKind;
  jwks: { keys: JWK[] };
  limits?: FailureLimits;
  redisUrl?: string;
  /** Share one memory store between two gateways (the memory store is one process only). */
  store?: Store;
  /** Lua steps on Redis (`auto`) or the portable store-primitive steps. */
  atomicSteps?: 'auto' | 'store-primitives';
}

export async function buildPivotGateway(options: PivotGatewayOptions): Promise<PivotGateway> {
  const clock = { now: Date.now() };
  const now = () => clock.now;
  const owned = options.store === undefined;
  const store =
    options.store ??
    (options.kind === 'redis'
      ? await RedisStore.connect(options.redisUrl ?? process.env.TEST_REDIS_URL!, { cipher: TextCipher.ephemeral(), threadRetentionDays: 90 })
      : new MemoryStore({ cipher: TextCipher.ephemeral(), threadRetentionDays: 90 }));
  const keys = await SigningKeys.fromJwkSet(options.jwks);
  const tokens = new PivotTokens(keys, { issuer: PUBLIC_URL, audience: AUDIENCE, now, maxTtlSeconds: PIVOT_TTL_SECONDS });
  const audit = new AuditTrail(store, { retentionSeconds: 90 * 86_400, now });
  const events = new ConversationEvents();
  const rateLimits = new RateLimits(store, options.limits ?? DEFAULT_FAILURE_LIMITS);
  const sessions = new SecureSessions(store, events, audit, { idleSeconds: SESSION_IDLE_SECONDS, now, rateLimits });
  const ledger = new PivotLedger(store, tokens, audit, events, sessions, rateLimits, { publicUrl: PUBLIC_URL, maxTtlSeconds: PIVOT_TTL_SECONDS, logger: silentLogger(), now, atomicSteps: options.atomicSteps ?? 'auto' });
  const changes: ConversationChange[] = [];
  const revocations: SessionRevocation[] = [];
  events.subscribe((c) => changes.push(c));
  events.subscribeRevocations((r) => revocations.push(r));
  return {
    store,
    keys,
    tokens,
    audit,
    events,
    sessions,
    rateLimits,
    ledger,
    changes,
    revocations,
    clock,
    close: async () => {
      if (owned) await store.close();
    },
  };
}

/** A fresh conversation with a random phone number, so tests sharing one Redis never collide. */
export async function newConversation(store: Store): Promise<Conversation> {
  const phone = `+1555${String(randomInt(0, 10_000_000)).padStart(7, '0')}${randomInt(0, 1000)}`;
  return (await store.openConversation('sms', phone)).conversation;
}

/** A random client (its own IPv4 address), so failure counts of one test never reach another's. */
export function randomClient(userAgent = 'Mozilla/5.0 (Linux; Android 14) Chrome/126.0 Mobile'): { ip: string; userAgent: string } {
  const b = randomBytes(3);
  return { ip: `10.${b[0]}.${b[1]}.${b[2]}`, userAgent };
}

/** What a redemption attempt came to: 'ok' or the contract string of its refusal. */
export async function outcome(attempt: Promise<unknown>, socketErrorOf: (err: unknown) => string): Promise<string> {
  try {
    await attempt;
    return 'ok';
  } catch (err) {
    return socketErrorOf(err);
  }
}

export function tally(outcomes: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[o] = (counts[o] ?? 0) + 1;
  return counts;
}
