/**
 * Secure chat load figures, each beside a bare Socket.IO baseline measured in
 * the same run (absolute numbers on a shared machine swing ±20%):
 *
 * 1. memory: N concurrent websocket clients on one server process; RSS per
 *    connection (after GC, minus the idle RSS) → sockets per GiB.
 *    bare: a Socket.IO server with an echo handler, nothing else.
 *    gateway: the /secure namespace with the Redis store and adapter; every
 *    client resumes its own session (its own conversation) and gets
 *    `session` + `history`.
 * 2. same-node latency at L clients × 1 msg/s:
 *    bare: echo round trip (client emit → server ack), the baseline;
 *    beside it, for context only, a bare one-way push (`io.to(room).emit` →
 *    client), which is the same transport work as the gateway's side.
 *    gateway: advisor reply → customer, one way (deliverAdvisorReply: check
 *    the conversation, lock and sessions and append to the encrypted Redis
 *    thread in one store step, fan out, emit to the conversation room).
 * 3. cross-node latency, two server processes on one Redis (sharded adapter
 *    in `dynamic` mode on both sides):
 *    bare: `io.to(room).emit` on node A → client on node B.
 *    gateway: deliverAdvisorReply on node A → customer on node B.
 *
 * Fairness: every bare payload is a message of the gateway's shape and size
 * (`messageLike`), both sides run the same number of clients at the same
 * rate, and a phase ends only when every expected sample arrived (or after a
 * quiet 10 s; the missing ones are reported as `lost`), so a saturated
 * server cannot hide its slowest messages.
 *
 * Servers run in child processes (their RSS is theirs alone); clients live in
 * this process. One-way times use `performance.timeOrigin + now()` of both
 * processes (same machine, same clock).
 *
 * Run: node -r ./test/support/ts-register.cjs bench/secure-chat.bench.ts [--sockets N] [--latency-clients L] [--seconds S]
 * (uses REDIS_URL if set, else starts a throwaway redis-server from the PATH)
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Session } from 'node:inspector';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import { createShardedAdapter } from '@socket.io/redis-adapter';
import { NodeWebSocket } from 'engine.io-client';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { io as connectClient, type Socket } from 'socket.io-client';
import { generateJwkSet } from '../src/pivot/keys';
import { startChatNode, type ChatNode } from '../test/support/chat-harness';
import { GATEWAY_NODE_FLAGS } from '../src/ops/node-flags';
import { join } from 'node:path';
import { argument, askChild, machineInfo, withBenchRedis, writeResult, type MachineInfo } from './support';

const PUBLIC_URL = 'https://gateway.bench';
const now = () => performance.timeOrigin + performance.now();
/** A send time as text a card-number masker leaves alone (13+ digit runs could be Luhn-valid). */
const stamp = () => `t:${Math.round(now() * 1000).toString(36)}`;
const unstamp = (text: string) => parseInt(text.slice(2), 36) / 1000;
/** What the bench's advisor token would carry: replies have an `authorName`, as in production. */
const BENCH_ADVISOR = { sub: 'bench-advisor', name: 'Bench Advisor' };

/** A bare payload of the gateway's message shape and size (the gateway sends a stored `Message`). */
function messageLike(text: string) {
  const at = Date.now();
  return { id: `${at}-0`, conversationId: randomUUID(), author: 'advisor', channel: 'secure', text, createdAt: new Date(at).toISOString(), authorName: BENCH_ADVISOR.name };
}


export interface SecureChatBenchOptions {
  redisUrl: string;
  /** Concurrent sockets for the memory figure. */
  sockets?: number;
  /** Clients receiving 1 msg/s for the latency figures. */
  latencyClients?: number;
  /** Measured seconds per latency phase. */
  seconds?: number;
}

interface Latency {
  samples: number;
  /** Expected samples that never arrived. */
  lost: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU time (user + system) of the server process(es) during the phase, per message. */
  serverCpuUsPerMessage: number;
  /** The longest GC pause and the event-loop delay p99 of the server process(es) during the phase (the worst of them). */
  serverGcMaxMs: number;
  serverLoopDelayP99Ms: number;
}

/** One phase's one-way (or round-trip) times, with when each message was sent (ms, this clock). */
class Samples {
  readonly ms: number[] = [];
  readonly sentAt: number[] = [];
  add(sentAt: number, ms: number): void {
    this.sentAt.push(sentAt);
    this.ms.push(ms);
  }
  clear(): void {
    this.ms.length = 0;
    this.sentAt.length = 0;
  }
}

/** Unmeasured traffic before each latency phase (JIT, socket buffers, Redis connections), the same for every side. */
const WARMUP_SECONDS = 2;

export interface SecureChatBenchResult {
  benchmark: 'secure-chat';
  at: string;
  options: Required<Omit<SecureChatBenchOptions, 'redisUrl'>>;
  memory: {
    bare: { sockets: number; rssPerSocketKb: number; socketsPerGiB: number };
    gateway: { sockets: number; rssPerSocketKb: number; socketsPerGiB: number };
    ratio: number;
    target: number;
    meetsTarget: boolean;
  };
  sameNode: { bareEchoRtt: Latency; bareOneWay: Latency; gatewayAdvisorToCustomer: Latency; p99Ratio: number; target: number; meetsTarget: boolean };
  crossNode: { bareRelay: Latency; gatewayAdvisorToCustomer: Latency; p99Ratio: number; target: number; meetsTarget: boolean };
  machine: MachineInfo;
}

// --- server processes ----------------------------------------------------------

type Order =
  | { op: 'rss' }
  | { op: 'stats' }
  | { op: 'sessions'; n: number }
  | { op: 'push'; conversationIds: string[]; seconds: number }
  | { op: 'push-bare'; rooms: number; seconds: number };

interface ServerProcess {
  child: ChildProcess;
  url: string;
  ask<T>(order: Order): Promise<T>;
  stop(): Promise<void>;
}

/** `--role bare|gateway`: what this process is when forked by the bench. */
async function serve(role: string): Promise<void> {
  const redisUrl = process.env.BENCH_REDIS_URL;
  const adapterKey = process.env.BENCH_ADAPTER_KEY ?? 'pg:sio-bench';
  let url: string;
  let handle: (order: Order) => Promise<unknown>;
  if (role === 'bare') {
    const http = createServer();
    const io = new Server(http, { serveClient: false });
    // The gateway's adapter (io.ts): sharded, `dynamic` mode. The Redis clients keep ioredis' defaults: a bare deployment.
    if (redisUrl) io.adapter(createShardedAdapter(new Redis(redisUrl), new Redis(redisUrl), { channelPrefix: adapterKey, subscriptionMode: 'dynamic' }));
    io.on('connection', (socket) => {
      const room = socket.handshake.auth.room;
      if (typeof room === 'string') void socket.join(room);
      socket.on('echo', (payload: unknown, ack: (payload: unknown) => void) => ack(payload));
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    handle = async (order) => {
      if (order.op === 'push-bare') {
        await paced(order.rooms, order.seconds, (i) => {
          io.to(`r${i}`).emit('relay', messageLike(stamp()));
        });
      }
      return undefined;
    };
  } else {
    const node: ChatNode = await startChatNode({
      redisUrl,
      publicUrl: PUBLIC_URL,
      jwks: JSON.parse(process.env.BENCH_JWKS!),
      dataKeys: [{ id: 'bench', key: Buffer.from(process.env.BENCH_DATA_KEY!, 'base64') }],
      socketOptions: { adapterKey, socketEventLimit: { events: 1000, windowMs: 1000 } },
    });
    url = node.url;
    handle = async (order) => {
      if (order.op === 'sessions') {
        const out: Array<{ conversationId: string; sessionToken: string }> = [];
        for (let i = 0; i < order.n; i += 200) {
          out.push(
            ...(await Promise.all(
              Array.from({ length: Math.min(200, order.n - i) }, async (_, j) => {
                const { conversation } = await node.store.openConversation('sms', `+1888${process.pid}${String(i + j).padStart(6, '0')}`);
                await node.store.appendMessage(conversation.id, { author: 'customer', channel: 'sms', text: 'I would like to check my balance' });
                const opened = await node.sessions.open(conversation.id, { tier: 1, intent: 'view_account', client: { ip: '10.9.0.1', userAgent: 'bench' } });
                return { conversationId: conversation.id, sessionToken: opened.sessionToken };
              }),
            )),
          );
        }
        return out;
      }
      if (order.op === 'push') {
        const sampling = order.seconds > WARMUP_SECONDS ? await startHeapSampling() : undefined;
        await paced(order.conversationIds.length, order.seconds, (i) => {
          void node.replies.deliverAdvisorReply(order.conversationIds[i]!, stamp(), BENCH_ADVISOR);
        });
        await sampling?.();
      }
      return undefined;
    };
  }
  const processStats = watchProcess();
  // A normal exit, so that --cpu-prof writes its profile; and no orphan server when the bench itself dies.
  process.once('SIGTERM', () => process.exit(0));
  process.once('disconnect', () => process.exit(0));
  process.on('message', (m: Order & { id: number }) => {
    void (async () => {
      if (m.op === 'rss') {
        for (let i = 0; i < 3; i++) {
          global.gc?.();
          await new Promise((r) => setTimeout(r, 100));
        }
        process.send?.({ id: m.id, value: process.memoryUsage().rss });
        return;
      }
      if (m.op === 'stats') {
        process.send?.({ id: m.id, value: processStats.read() });
        return;
      }
      process.send?.({ id: m.id, value: await handle(m) });
    })();
  });
  process.send?.({ ready: true, url });
}

/**
 * BENCH_HEAP_SAMPLING=<dir>: a sampling allocation profile of the measured
 * push (collected objects included: what the young generation churns
 * through), written to <dir>/<pid>.heapprofile when the returned stop is called.
 */
async function startHeapSampling(): Promise<(() => Promise<void>) | undefined> {
  const dir = process.env.BENCH_HEAP_SAMPLING;
  if (!dir) return undefined;
  const session = new Session();
  session.connect();
  const post = <T>(method: string, params?: object) =>
    new Promise<T>((resolve, reject) => session.post(method, params, (err: Error | null, result: unknown) => (err ? reject(err) : resolve(result as T))));
  await post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  return async () => {
    const { profile } = await post<{ profile: unknown }>('HeapProfiler.stopSampling');
    writeFileSync(join(dir, `${process.pid}.heapprofile`), JSON.stringify(profile));
    session.disconnect();
  };
}

/** What a server process did since the previous `read()`: CPU time, GC pauses, event-loop delay. */
interface ProcessStats {
  cpuUs: number;
  gcMs: number;
  gcMaxMs: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

function watchProcess(): { read(): ProcessStats } {
  let gcMs = 0;
  let gcMaxMs = 0;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcMs += entry.duration;
      gcMaxMs = Math.max(gcMaxMs, entry.duration);
    }
  }).observe({ entryTypes: ['gc'] });
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  let cpu = process.cpuUsage();
  return {
    read() {
      const used = process.cpuUsage(cpu);
      cpu = process.cpuUsage();
      const stats = { cpuUs: used.user + used.system, gcMs, gcMaxMs, loopDelayP99Ms: loop.percentile(99) / 1e6, loopDelayMaxMs: loop.max / 1e6 };
      gcMs = 0;
      gcMaxMs = 0;
      loop.reset();
      return stats;
    },
  };
}

/** Calls `fire(i)` for i in 0..n-1 once per second each, spread evenly, for `seconds`. */
async function paced(n: number, seconds: number, fire: (i: number) => void): Promise<void> {
  const start = performance.now();
  const total = n * seconds;
  for (let k = 0; k < total; k++) {
    const due = start + (k * 1000) / n;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    fire(k % n);
  }
}

async function startServer(role: 'bare' | 'gateway', label: string, env: Record<string, string>): Promise<ServerProcess> {
  // BENCH_CPU_PROF=<dir>: each server process writes a V8 CPU profile there (<label>.cpuprofile) when it stops.
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`, `--cpu-prof-name=${label}.cpuprofile`] : [];
  // BENCH_NODE_FLAGS="--trace-gc ...": extra node flags for every server process (diagnostics).
  profile.push(...(process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? []));
  // The gateway runs with the V8 flags it is deployed with (npm start, Dockerfile); the bare servers as socket.io comes.
  const runtime = role === 'gateway' ? GATEWAY_NODE_FLAGS : [];
  const child = fork(__filename, ['--role', role], { execArgv: ['-r', join(__dirname, '..', 'test', 'support', 'ts-register.cjs'), '--expose-gc', ...runtime, ...profile], env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m: { url: string }) => resolve(m.url));
    child.once('exit', (code) => reject(new Error(`${role} server exited with ${code}`)));
  });
  return {
    child,
    url,
    ask<T>(order: Order) {
      return askChild<T>(child, order);
    },
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

// --- clients -----------------------------------------------------------------

/** Records the one-way time of a stamped message (`text` from `stamp()`). */
const oneWay = (samples: Samples) => (payload: unknown) => {
  const raw = typeof payload === 'object' && payload !== null ? (payload as { text?: unknown }).text : undefined;
  const sent = typeof raw === 'string' && raw.startsWith('t:') ? unstamp(raw) : NaN;
  if (Number.isFinite(sent)) samples.add(sent, now() - sent);
};

function client(url: string, nsp: string, auth: Record<string, unknown>): Socket {
  return connectClient(`${url}${nsp}`, { transports: [NodeWebSocket], reconnection: false, forceNew: true, extraHeaders: { origin: PUBLIC_URL }, auth });
}

/** Opens clients in batches; resolves when each has emitted `readyEvent`. */
async function openClients(count: number, make: (i: number) => Socket, readyEvent: string): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let i = 0; i < count; i += 100) {
    const batch = Array.from({ length: Math.min(100, count - i) }, (_, j) => make(i + j));
    await Promise.all(
      batch.map(
        (s) =>
          new Promise<void>((resolve, reject) => {
            s.once(readyEvent, () => resolve());
            s.once('connect_error', (err) => reject(err));
          }),
      ),
    );
    sockets.push(...batch);
  }
  return sockets;
}

/** Disconnects, then lets the server process the closes before the next phase. */
async function closeAll(sockets: Socket[]): Promise<void> {
  for (const s of sockets) s.disconnect();
  await new Promise((r) => setTimeout(r, 1000));
}

/** Resolves when `expected` samples arrived, or when none arrived for 10 s. */
async function drained(samples: Samples, expected: number): Promise<void> {
  let seen = -1;
  let quietSince = performance.now();
  while (samples.ms.length < expected && performance.now() - quietSince < 10_000) {
    if (samples.ms.length !== seen) {
      seen = samples.ms.length;
      quietSince = performance.now();
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Runs one latency phase: `run(seconds)` sends `perSecond` messages a second,
 * first for WARMUP_SECONDS (not measured), then for `seconds`, and waits for
 * them to arrive. Lost samples count as slower than any that arrived.
 * BENCH_SAMPLES=<dir>: also writes each sample (send time, ms) to <dir>/<name>.json.
 */
async function phase(name: string, servers: ServerProcess[], perSecond: number, seconds: number, samples: Samples, run: (seconds: number) => Promise<unknown>): Promise<Latency> {
  await run(WARMUP_SECONDS);
  await drained(samples, perSecond * WARMUP_SECONDS);
  samples.clear();
  const expected = perSecond * seconds;
  const stats = () => Promise.all(servers.map((s) => s.ask<ProcessStats>({ op: 'stats' })));
  await stats();
  await run(seconds);
  await drained(samples, expected);
  const during = await stats();
  const cpuUs = during.reduce((sum, s) => sum + s.cpuUs, 0);
  const worst = (pick: (s: ProcessStats) => number) => Number(Math.max(...during.map(pick)).toFixed(2));
  if (process.env.BENCH_SAMPLES) {
    const start = Math.min(...samples.sentAt);
    writeFileSync(join(process.env.BENCH_SAMPLES, `${name}.json`), JSON.stringify(samples.sentAt.map((t, i) => [Number((t - start).toFixed(2)), Number(samples.ms[i]!.toFixed(3))])));
  }
  const sorted = [...samples.ms].sort((a, b) => a - b);
  const at = (q: number) => {
    const rank = Math.floor(q * expected);
    return rank >= sorted.length ? Infinity : Number(sorted[rank]!.toFixed(2));
  };
  return { samples: sorted.length, lost: Math.max(0, expected - sorted.length), p50Ms: at(0.5), p99Ms: at(0.99),
    serverCpuUsPerMessage: Math.round(cpuUs / expected),
    serverGcMaxMs: worst((s) => s.gcMaxMs),
    serverLoopDelayP99Ms: worst((s) => s.loopDelayP99Ms),
  };
}

async function memoryOf(server: ServerProcess, sockets: number, make: (i: number) => Socket, readyEvent: string) {
  const idle = await server.ask<number>({ op: 'rss' });
  const open = await openClients(sockets, make, readyEvent);
  await new Promise((r) => setTimeout(r, 1000));
  const loaded = await server.ask<number>({ op: 'rss' });
  await closeAll(open);
  const perSocket = (loaded - idle) / sockets;
  return { sockets, rssPerSocketKb: Number((perSocket / 1024).toFixed(1)), socketsPerGiB: Math.round(2 ** 30 / perSocket) };
}

// --- the bench ---------------------------------------------------------------

export async function runSecureChatBench(options: SecureChatBenchOptions): Promise<SecureChatBenchResult> {
  const opts = { sockets: options.sockets ?? 5000, latencyClients: options.latencyClients ?? 1000, seconds: options.seconds ?? 15 };
  const jwks = JSON.stringify(await generateJwkSet('EdDSA'));
  const dataKey = randomBytes(32).toString('base64');
  const gatewayEnv = (key: string) => ({ BENCH_REDIS_URL: options.redisUrl, BENCH_JWKS: jwks, BENCH_DATA_KEY: dataKey, BENCH_ADAPTER_KEY: key });

  // 1. memory
  const bare = await startServer('bare', 'bare-same', {});
  const bareMemory = await memoryOf(bare, opts.sockets, (i) => client(bare.url, '/', { room: `r${i}` }), 'connect');
  const gw = await startServer('gateway', 'gateway-same', gatewayEnv(`pg:sio-bench-${randomBytes(3).toString('hex')}`));
  const sessions = await gw.ask<Array<{ conversationId: string; sessionToken: string }>>({ op: 'sessions', n: Math.max(opts.sockets, opts.latencyClients) });
  const gatewayMemory = await memoryOf(gw, opts.sockets, (i) => client(gw.url, '/secure', { sessionToken: sessions[i]!.sessionToken }), 'history');

  // 2. same node
  const L = opts.latencyClients;
  const echoClients = await openClients(L, (i) => client(bare.url, '/', { room: `r${i}` }), 'connect');
  const echo = new Samples();
  const bareEcho = await phase('bare-echo', [bare], L, opts.seconds, echo, (seconds) =>
    paced(L, seconds, (i) => {
      const t = performance.now();
      echoClients[i]!.emit('echo', messageLike('echo'), () => echo.add(performance.timeOrigin + t, performance.now() - t));
    }),
  );
  const bareOneWay = new Samples();
  for (const c of echoClients) c.on('relay', oneWay(bareOneWay));
  const bareOneWayLatency = await phase('bare-one-way', [bare], L, opts.seconds, bareOneWay, (seconds) => bare.ask({ op: 'push-bare', rooms: L, seconds }));
  await closeAll(echoClients);

  const sameNode = new Samples();
  const customers = await openClients(L, (i) => client(gw.url, '/secure', { sessionToken: sessions[i]!.sessionToken }), 'history');
  for (const c of customers) c.on('message', oneWay(sameNode));
  const gatewaySame = await phase('gateway-same', [gw], L, opts.seconds, sameNode, (seconds) =>
    gw.ask({ op: 'push', conversationIds: sessions.slice(0, L).map((s) => s.conversationId), seconds }),
  );
  await closeAll(customers);
  await Promise.all([bare.stop(), gw.stop()]);

  // 3. cross node: A sends, clients on B
  const bareKey = `pg:sio-bench-bare-${randomBytes(3).toString('hex')}`;
  const [bareA, bareB] = await Promise.all([startServer('bare', 'bare-a', { BENCH_REDIS_URL: options.redisUrl, BENCH_ADAPTER_KEY: bareKey }), startServer('bare', 'bare-b', { BENCH_REDIS_URL: options.redisUrl, BENCH_ADAPTER_KEY: bareKey })]);
  const relay = new Samples();
  const relayClients = await openClients(L, (i) => client(bareB.url, '/', { room: `r${i}` }), 'connect');
  for (const c of relayClients) c.on('relay', oneWay(relay));
  const bareRelay = await phase('bare-cross', [bareA, bareB], L, opts.seconds, relay, (seconds) => bareA.ask({ op: 'push-bare', rooms: L, seconds }));
  await closeAll(relayClients);
  await Promise.all([bareA.stop(), bareB.stop()]);

  const gwKey = `pg:sio-bench-gw-${randomBytes(3).toString('hex')}`;
  const [gwA, gwB] = await Promise.all([startServer('gateway', 'gateway-a', gatewayEnv(gwKey)), startServer('gateway', 'gateway-b', gatewayEnv(gwKey))]);
  const crossSessions = await gwA.ask<Array<{ conversationId: string; sessionToken: string }>>({ op: 'sessions', n: opts.latencyClients });
  const crossNode = new Samples();
  const crossCustomers = await openClients(L, (i) => client(gwB.url, '/secure', { sessionToken: crossSessions[i]!.sessionToken }), 'history');
  for (const c of crossCustomers) c.on('message', oneWay(crossNode));
  const gatewayCross = await phase('gateway-cross', [gwA, gwB], L, opts.seconds, crossNode, (seconds) =>
    gwA.ask({ op: 'push', conversationIds: crossSessions.map((s) => s.conversationId), seconds }),
  );
  await closeAll(crossCustomers);
  await Promise.all([gwA.stop(), gwB.stop()]);

  const memoryRatio = Number((gatewayMemory.socketsPerGiB / bareMemory.socketsPerGiB).toFixed(3));
  const same = { bare: bareEcho, bareOneWay: bareOneWayLatency, gateway: gatewaySame };
  const cross = { bare: bareRelay, gateway: gatewayCross };
  const sameRatio = Number((same.gateway.p99Ms / same.bare.p99Ms).toFixed(2));
  const crossRatio = Number((cross.gateway.p99Ms / cross.bare.p99Ms).toFixed(2));
  const redis = new Redis(options.redisUrl);
  const info = await redis.info('server');
  redis.disconnect();
  return {
    benchmark: 'secure-chat',
    at: new Date().toISOString(),
    options: opts,
    memory: { bare: bareMemory, gateway: gatewayMemory, ratio: memoryRatio, target: 0.6, meetsTarget: memoryRatio >= 0.6 },
    sameNode: { bareEchoRtt: same.bare, bareOneWay: same.bareOneWay, gatewayAdvisorToCustomer: same.gateway, p99Ratio: sameRatio, target: 2, meetsTarget: sameRatio <= 2 },
    crossNode: { bareRelay: cross.bare, gatewayAdvisorToCustomer: cross.gateway, p99Ratio: crossRatio, target: 2, meetsTarget: crossRatio <= 2 },
    machine: machineInfo(info),
  };
}

async function main(): Promise<void> {
  await withBenchRedis(async (redisUrl) => {
    const result = await runSecureChatBench({
      redisUrl,
      ...(argument('--sockets') ? { sockets: Number(argument('--sockets')) } : {}),
      ...(argument('--latency-clients') ? { latencyClients: Number(argument('--latency-clients')) } : {}),
      ...(argument('--seconds') ? { seconds: Number(argument('--seconds')) } : {}),
    });
    const file = writeResult(`secure-chat-${result.at.replace(/[:.]/g, '-')}`, __filename, result);
    process.stdout.write(`${JSON.stringify({ file, memory: result.memory, sameNode: result.sameNode, crossNode: result.crossNode }, null, 2)}\n`);
  });
}

if (require.main === module) {
  const role = argument('--role');
  (role ? serve(role) : main()).catch((err: unknown) => {
    process.stderr.write(`secure-chat bench failed: ${String(err)}\n`);
    process.exit(1);
  });
}
