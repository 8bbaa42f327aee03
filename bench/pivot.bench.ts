/**
 * Pivot path load figures, as a ratio to a baseline measured in the same run
 * (absolute numbers on a shared machine swing ±20% from minute to minute).
 *
 * - baseline: jose's raw `SignJWT.sign` + `jwtVerify` of a same-sized token
 *   with the same key: the cryptographic floor of any pivot.
 * - full path: `ledger.issue` (mint + ledger record + audit) followed by
 *   `ledger.redeem` (rate-limit checks, verify, the atomic compare-and-set,
 *   session open, audit, events) against a real Redis.
 * - round-trip floor (attribution, no target): the baseline's sign and
 *   verify with one Redis round trip (`PING`) after each, i.e. the full
 *   path's shape without any ledger work. Between the round trips libuv's
 *   crypto threads go idle, and waking one costs far more CPU than handing
 *   it the next job while it is busy (the baseline's tight loop): this phase
 *   shows how much of the gap that shape costs before our code does anything.
 *
 * Closed-loop workers, fixed duration, a warm-up that is thrown away, and the
 * two phases alternated (baseline, full, baseline, full) so a drifting machine
 * hurts both alike. Target (issue 3): full path >= 50% of the baseline.
 *
 * Run: node -r ./test/support/ts-register.cjs bench/pivot.bench.ts [--duration-ms N] [--concurrency N] [--alg EdDSA|ES256]
 * (uses REDIS_URL if set, else starts a throwaway redis-server from the PATH)
 */
import { performance } from 'node:perf_hooks';
import { jwtVerify, SignJWT } from 'jose';
import { AuditTrail } from '../src/audit/audit-trail';
import { SecureSessions } from '../src/chat/sessions';
import { ConversationEvents } from '../src/conversation-events';
import { silentLogger } from '../src/ops/logger';
import { RateLimits } from '../src/ops/rate-limits';
import { generateJwkSet, SigningKeys, type SigningAlg } from '../src/pivot/keys';
import { PivotLedger } from '../src/pivot/ledger';
import { PivotTokens } from '../src/pivot/token';
import { RedisStore } from '../src/store/redis.store';
import { TextCipher } from '../src/store/text-cipher';
import { argument, machineInfo, withBenchRedis, writeResult, type MachineInfo } from './support';

export interface PivotBenchOptions {
  redisUrl: string;
  alg?: SigningAlg;
  /** Concurrent closed-loop workers. */
  concurrency?: number;
  /** Measured time per phase segment. */
  durationMs?: number;
  /** Discarded time before each segment. */
  warmupMs?: number;
  /** Segments per phase (alternated). */
  rounds?: number;
}

export interface PhaseResult {
  ops: number;
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /**
   * This process's CPU (user + system, every thread: main, libuv pool, GC)
   * per completed op over the measured windows. Far steadier than ops/s on
   * a shared machine: it does not move when another process takes a core.
   */
  cpuMicrosPerOp: number;
  /** redis-server's CPU (INFO CPU used_cpu_user + used_cpu_sys) per op over the same windows. */
  redisCpuMicrosPerOp: number;
}

export interface PivotBenchResult {
  benchmark: 'pivot';
  at: string;
  options: Required<Omit<PivotBenchOptions, 'redisUrl'>>;
  baseline: PhaseResult & { what: string };
  fullPath: PhaseResult & { what: string };
  roundTripFloor: PhaseResult & { what: string };
  /** roundTripFloor.opsPerSecond / baseline.opsPerSecond: the best ratio any path with two round trips between its crypto could reach here. */
  roundTripFloorRatio: number;
  /** fullPath.opsPerSecond / baseline.opsPerSecond */
  ratio: number;
  target: number;
  meetsTarget: boolean;
  /** `loadAverage` (1, 5, 15 min) at the end: other work on the machine distorts the ratio (Redis round trips suffer more from an oversubscribed CPU than pure crypto does). */
  machine: MachineInfo;
}

const ISSUER = 'https://bank.example';
const AUDIENCE = `${ISSUER}/secure`;

interface Segment {
  latencies: number[];
  /** Ops that completed between the two CPU snapshots. */
  completed: number;
  cpuMicros: number;
  redisCpuMicros: number;
}

/** redis-server's total CPU so far, in microseconds. */
async function redisCpuMicros(redis: RedisStore['redis']): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? 0);
  return Math.round((field('used_cpu_user') + field('used_cpu_sys')) * 1e6);
}

async function segment(redis: RedisStore['redis'], concurrency: number, warmupMs: number, durationMs: number, op: (worker: number) => Promise<void>): Promise<Segment> {
  const latencies: number[] = [];
  const warmEnd = performance.now() + warmupMs;
  const end = warmEnd + durationMs;
  // CPU snapshots when the warm-up ends and when the window ends; ops are counted by completion between them.
  let completed = 0;
  let counting = false;
  const snapshot = async () => ({ cpu: process.cpuUsage(), redis: await redisCpuMicros(redis) });
  let first: Promise<{ cpu: NodeJS.CpuUsage; redis: number }> | undefined;
  let last: Promise<{ cpu: NodeJS.CpuUsage; redis: number }> | undefined;
  const startTimer = setTimeout(() => {
    counting = true;
    first = snapshot();
  }, warmupMs);
  const endTimer = setTimeout(() => {
    counting = false;
    last = snapshot();
  }, warmupMs + durationMs);
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (;;) {
        const start = performance.now();
        if (start >= end) return;
        await op(worker);
        const done = performance.now();
        if (counting) completed++;
        if (start >= warmEnd && done <= end) latencies.push(done - start);
      }
    }),
  );
  clearTimeout(startTimer);
  clearTimeout(endTimer);
  if (!first || !last) throw new Error('bench segment ended before its CPU snapshots');
  const [a, b] = await Promise.all([first, last]);
  return { latencies, completed, cpuMicros: b.cpu.user + b.cpu.system - a.cpu.user - a.cpu.system, redisCpuMicros: b.redis - a.redis };
}

function summarise(segments: Segment[], measuredMs: number): PhaseResult {
  const sorted = segments.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  const completed = segments.reduce((n, s) => n + s.completed, 0) || 1;
  const perOp = (total: number) => Math.round(total / completed);
  return {
    ops: sorted.length,
    opsPerSecond: Math.round((sorted.length / measuredMs) * 1000),
    p50Ms: Number(at(0.5).toFixed(3)),
    p99Ms: Number(at(0.99).toFixed(3)),
    cpuMicrosPerOp: perOp(segments.reduce((n, s) => n + s.cpuMicros, 0)),
    redisCpuMicrosPerOp: perOp(segments.reduce((n, s) => n + s.redisCpuMicros, 0)),
  };
}

export async function runPivotBench(options: PivotBenchOptions): Promise<PivotBenchResult> {
  const opts = { alg: options.alg ?? 'EdDSA', concurrency: options.concurrency ?? 16, durationMs: options.durationMs ?? 5000, warmupMs: options.warmupMs ?? 1000, rounds: options.rounds ?? 2 } as const;
  const store = await RedisStore.connect(options.redisUrl, { cipher: TextCipher.ephemeral(), threadRetentionDays: 1 });
  try {
    const keys = await SigningKeys.fromJwkSet(await generateJwkSet(opts.alg));
    const tokens = new PivotTokens(keys, { issuer: ISSUER, audience: AUDIENCE, maxTtlSeconds: 300 });
    const audit = new AuditTrail(store, { retentionSeconds: 3600 });
    const events = new ConversationEvents();
    const rateLimits = new RateLimits(store);
    const sessions = new SecureSessions(store, events, audit, { idleSeconds: 900, rateLimits });
    const ledger = new PivotLedger(store, tokens, audit, events, sessions, rateLimits, { publicUrl: ISSUER, maxTtlSeconds: 300, logger: silentLogger() });

    // One conversation and one client per worker, as many customers would be.
    const conversations = await Promise.all(Array.from({ length: opts.concurrency }, (_, i) => store.openConversation('sms', `+1999${Date.now() % 1_000_000}${String(i).padStart(3, '0')}`)));
    const clients = conversations.map((_, i) => ({ ip: `10.77.${i >> 8}.${i & 255}`, userAgent: 'Mozilla/5.0 (Linux; Android 14) Chrome/126.0 Mobile' }));

    const signing = keys.signing();
    const verifyKey = keys.verificationKey(signing.kid, signing.alg)!;
    const sampleClaims = { intent: 'view_account', iss: ISSUER, aud: AUDIENCE, sub: conversations[0]!.conversation.id };
    const sign = () => {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT(sampleClaims)
        .setProtectedHeader({ alg: signing.alg, kid: signing.kid, typ: 'pivot+jwt' })
        .setJti('AAAAAAAAAAAAAAAAAAAAAA')
        .setIssuedAt(now)
        .setExpirationTime(now + 300)
        .sign(signing.key);
    };
    const verify = (token: string) => jwtVerify(token, verifyKey, { algorithms: [signing.alg], typ: 'pivot+jwt', issuer: ISSUER, audience: AUDIENCE });
    const baselineOp = async () => {
      await verify(await sign());
    };
    const floorOp = async () => {
      const token = await sign();
      await store.redis.ping();
      await verify(token);
      await store.redis.ping();
    };
    const fullOp = async (worker: number) => {
      const pivot = await ledger.issue(conversations[worker]!.conversation.id, 'view_account', { kind: 'bot' });
      await ledger.redeem(pivot.token, clients[worker]!);
    };

    const base: Segment[] = [];
    const full: Segment[] = [];
    const floor: Segment[] = [];
    for (let round = 0; round < opts.rounds; round++) {
      base.push(await segment(store.redis, opts.concurrency, opts.warmupMs, opts.durationMs, baselineOp));
      floor.push(await segment(store.redis, opts.concurrency, opts.warmupMs, opts.durationMs, floorOp));
      full.push(await segment(store.redis, opts.concurrency, opts.warmupMs, opts.durationMs, fullOp));
    }
    const measuredMs = opts.durationMs * opts.rounds;
    const baseline = summarise(base, measuredMs);
    const fullPath = summarise(full, measuredMs);
    const roundTripFloor = summarise(floor, measuredMs);
    const info = await store.redis.info('server');
    const ratio = Number((fullPath.opsPerSecond / baseline.opsPerSecond).toFixed(3));
    return {
      benchmark: 'pivot',
      at: new Date().toISOString(),
      options: opts,
      baseline: { what: `jose SignJWT.sign + jwtVerify (${opts.alg}), same claims`, ...baseline },
      fullPath: { what: 'ledger.issue (mint, record, audit) + ledger.redeem (limits, verify, CAS, session, audit) on Redis', ...fullPath },
      roundTripFloor: { what: `the baseline's sign, PING, verify, PING (no ledger work)`, ...roundTripFloor },
      roundTripFloorRatio: Number((roundTripFloor.opsPerSecond / baseline.opsPerSecond).toFixed(3)),
      ratio,
      target: 0.5,
      meetsTarget: ratio >= 0.5,
      machine: machineInfo(info),
    };
  } finally {
    await store.close();
  }
}

async function main(): Promise<void> {
  await withBenchRedis(async (redisUrl) => {
    const alg = argument('--alg');
    const result = await runPivotBench({
      redisUrl,
      ...(alg === 'ES256' || alg === 'EdDSA' ? { alg } : {}),
      ...(argument('--duration-ms') ? { durationMs: Number(argument('--duration-ms')) } : {}),
      ...(argument('--concurrency') ? { concurrency: Number(argument('--concurrency')) } : {}),
    });
    const file = writeResult(`pivot-${result.at.slice(0, 10)}-${result.options.alg}`, __filename, result);
    const { baseline, fullPath, roundTripFloor } = result;
    process.stdout.write(
      `${JSON.stringify({ file, baseline: baseline.opsPerSecond, fullPath: fullPath.opsPerSecond, p99Ms: fullPath.p99Ms, ratio: result.ratio, roundTripFloorRatio: result.roundTripFloorRatio, cpuMicrosPerOp: { baseline: baseline.cpuMicrosPerOp, roundTripFloor: roundTripFloor.cpuMicrosPerOp, fullPath: fullPath.cpuMicrosPerOp }, redisCpuMicrosPerOp: { roundTripFloor: roundTripFloor.redisCpuMicrosPerOp, fullPath: fullPath.redisCpuMicrosPerOp } })}\n`,
    );
  });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`pivot bench failed: ${String(err)}\n`);
    process.exit(1);
  });
}
