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
 *    bare: echo round trip (client emit → server ack).
 *    gateway: advisor reply → customer, one way (deliverAdvisorReply: append
 *    to the Redis thread, events, emit to the conversation room).
 * 3. cross-node latency, two server processes on one Redis (sharded adapter):
 *    bare: `io.to(room).emit` on node A → client on node B.
 *    gateway: deliverAdvisorReply on node A → customer on node B.
 *
 * Servers run in child processes (their RSS is theirs alone); clients live in
 * this process. One-way times use `performance.timeOrigin + now()` of both
 * processes (same machine, same clock).
 *
 * Run: node -r ./test/support/ts-register.cjs bench/secure-chat.bench.ts [--sockets N] [--latency-clients L] [--seconds S]
 * (uses REDIS_URL if set, else starts a throwaway redis-server from the PATH)
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createShardedAdapter } from '@socket.io/redis-adapter';
import { NodeWebSocket } from 'engine.io-client';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { io as connectClient, type Socket } from 'socket.io-client';
import { generateJwkSet } from '../src/pivot/keys';
import { startChatNode, type ChatNode } from '../test/support/chat-harness';
import { join } from 'node:path';
import { argument, machineInfo, withBenchRedis, writeResult, type MachineInfo } from './support';

const PUBLIC_URL = 'https://gateway.bench';
const now = () => performance.timeOrigin + performance.now();
/** A send time as text a card-number masker leaves alone (13+ digit runs could be Luhn-valid). */
const stamp = () => `t:${Math.round(now() * 1000).toString(36)}`;
const unstamp = (text: string) => parseInt(text.slice(2), 36) / 1000;

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
  p50Ms: number;
  p99Ms: number;
}

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
  sameNode: { bareEchoRtt: Latency; gatewayAdvisorToCustomer: Latency; p99Ratio: number; target: number; meetsTarget: boolean };
  crossNode: { bareRelay: Latency; gatewayAdvisorToCustomer: Latency; p99Ratio: number; target: number; meetsTarget: boolean };
  machine: MachineInfo;
}

// --- server processes ----------------------------------------------------------

type Order =
  | { op: 'rss' }
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
    if (redisUrl) io.adapter(createShardedAdapter(new Redis(redisUrl), new Redis(redisUrl), { channelPrefix: adapterKey }));
    io.on('connection', (socket) => {
      const room = socket.handshake.auth.room;
      if (typeof room === 'string') void socket.join(room);
      socket.on('echo', (t: number, ack: (t: number) => void) => ack(t));
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    handle = async (order) => {
      if (order.op === 'push-bare') {
        await paced(order.rooms, order.seconds, (i) => {
          io.to(`r${i}`).emit('relay', stamp());
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
        await paced(order.conversationIds.length, order.seconds, (i) => {
          void node.replies.deliverAdvisorReply(order.conversationIds[i]!, stamp(), { sub: 'bench-advisor' });
        });
      }
      return undefined;
    };
  }
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
      process.send?.({ id: m.id, value: await handle(m) });
    })();
  });
  process.send?.({ ready: true, url });
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

async function startServer(role: 'bare' | 'gateway', env: Record<string, string>): Promise<ServerProcess> {
  const child = fork(__filename, ['--role', role], { execArgv: ['-r', join(__dirname, '..', 'test', 'support', 'ts-register.cjs'), '--expose-gc'], env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m: { url: string }) => resolve(m.url));
    child.once('exit', (code) => reject(new Error(`${role} server exited with ${code}`)));
  });
  let next = 0;
  return {
    child,
    url,
    ask<T>(order: Order) {
      const id = ++next;
      return new Promise<T>((resolve) => {
        const listener = (m: { id: number; value: T }) => {
          if (m.id !== id) return;
          child.off('message', listener);
          resolve(m.value);
        };
        child.on('message', listener);
        child.send({ ...order, id });
      });
    },
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

// --- clients -----------------------------------------------------------------

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

function closeAll(sockets: Socket[]): void {
  for (const s of sockets) s.disconnect();
}

function percentiles(samples: number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => Number((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN).toFixed(2));
  return { samples: sorted.length, p50Ms: at(0.5), p99Ms: at(0.99) };
}

async function memoryOf(server: ServerProcess, sockets: number, make: (i: number) => Socket, readyEvent: string) {
  const idle = await server.ask<number>({ op: 'rss' });
  const open = await openClients(sockets, make, readyEvent);
  await new Promise((r) => setTimeout(r, 1000));
  const loaded = await server.ask<number>({ op: 'rss' });
  closeAll(open);
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
  const bare = await startServer('bare', {});
  const bareMemory = await memoryOf(bare, opts.sockets, (i) => client(bare.url, '/', { room: `r${i}` }), 'connect');
  const gw = await startServer('gateway', gatewayEnv(`pg:sio-bench-${randomBytes(3).toString('hex')}`));
  const sessions = await gw.ask<Array<{ conversationId: string; sessionToken: string }>>({ op: 'sessions', n: opts.sockets });
  const gatewayMemory = await memoryOf(gw, opts.sockets, (i) => client(gw.url, '/secure', { sessionToken: sessions[i]!.sessionToken }), 'history');

  // 2. same node
  const echoClients = await openClients(opts.latencyClients, (i) => client(bare.url, '/', { room: `r${i}` }), 'connect');
  const echo: number[] = [];
  await paced(opts.latencyClients, opts.seconds, (i) => {
    const t = performance.now();
    echoClients[i]!.emit('echo', t, () => echo.push(performance.now() - t));
  });
  await new Promise((r) => setTimeout(r, 500));
  closeAll(echoClients);

  const oneWay = (samples: number[]) => (payload: unknown) => {
    const raw = typeof payload === 'string' ? payload : (payload as { text?: unknown }).text;
    const sent = typeof raw === 'string' && raw.startsWith('t:') ? unstamp(raw) : NaN;
    if (Number.isFinite(sent)) samples.push(now() - sent);
  };
  const sameNode: number[] = [];
  const customers = await openClients(opts.latencyClients, (i) => client(gw.url, '/secure', { sessionToken: sessions[i]!.sessionToken }), 'history');
  for (const c of customers) c.on('message', oneWay(sameNode));
  await gw.ask({ op: 'push', conversationIds: sessions.slice(0, opts.latencyClients).map((s) => s.conversationId), seconds: opts.seconds });
  await new Promise((r) => setTimeout(r, 1000));
  closeAll(customers);
  await Promise.all([bare.stop(), gw.stop()]);

  // 3. cross node: A sends, clients on B
  const bareKey = `pg:sio-bench-bare-${randomBytes(3).toString('hex')}`;
  const [bareA, bareB] = await Promise.all([startServer('bare', { BENCH_REDIS_URL: options.redisUrl, BENCH_ADAPTER_KEY: bareKey }), startServer('bare', { BENCH_REDIS_URL: options.redisUrl, BENCH_ADAPTER_KEY: bareKey })]);
  const relay: number[] = [];
  const relayClients = await openClients(opts.latencyClients, (i) => client(bareB.url, '/', { room: `r${i}` }), 'connect');
  for (const c of relayClients) c.on('relay', oneWay(relay));
  await bareA.ask({ op: 'push-bare', rooms: opts.latencyClients, seconds: opts.seconds });
  await new Promise((r) => setTimeout(r, 1000));
  closeAll(relayClients);
  await Promise.all([bareA.stop(), bareB.stop()]);

  const gwKey = `pg:sio-bench-gw-${randomBytes(3).toString('hex')}`;
  const [gwA, gwB] = await Promise.all([startServer('gateway', gatewayEnv(gwKey)), startServer('gateway', gatewayEnv(gwKey))]);
  const crossSessions = await gwA.ask<Array<{ conversationId: string; sessionToken: string }>>({ op: 'sessions', n: opts.latencyClients });
  const crossNode: number[] = [];
  const crossCustomers = await openClients(opts.latencyClients, (i) => client(gwB.url, '/secure', { sessionToken: crossSessions[i]!.sessionToken }), 'history');
  for (const c of crossCustomers) c.on('message', oneWay(crossNode));
  await gwA.ask({ op: 'push', conversationIds: crossSessions.map((s) => s.conversationId), seconds: opts.seconds });
  await new Promise((r) => setTimeout(r, 1000));
  closeAll(crossCustomers);
  await Promise.all([gwA.stop(), gwB.stop()]);

  const memoryRatio = Number((gatewayMemory.socketsPerGiB / bareMemory.socketsPerGiB).toFixed(3));
  const same = { bare: percentiles(echo), gateway: percentiles(sameNode) };
  const cross = { bare: percentiles(relay), gateway: percentiles(crossNode) };
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
    sameNode: { bareEchoRtt: same.bare, gatewayAdvisorToCustomer: same.gateway, p99Ratio: sameRatio, target: 2, meetsTarget: sameRatio <= 2 },
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
