/**
 * Webhook ingest load figures, as ratios to a bare Express "hello" route
 * measured in the same run (absolute numbers on a shared machine swing ±20%
 * from one minute to the next: STACK-NOTES pitfall 8).
 *
 * - baseline: `GET /hello` on Express 5, nothing else.
 * - connector only (for attribution, no target): the same signed webhook
 *   through the real Twilio connector with an `ingest` that stores nothing,
 *   i.e. raw body + form parse + signature check + TwiML answer.
 * - ingest: `POST /webhooks/twilio`, a new Twilio SMS per request (fresh
 *   MessageSid, ~1 KB form, a real X-Twilio-Signature over PUBLIC_URL + path),
 *   through the real Twilio connector (raw body, signature check) and the real
 *   ingest (redact, open conversation, the one Lua step that appends with
 *   dedupe, moves the activity index and records the message in the inbox) on
 *   a real Redis. 1,000 distinct senders, so conversations are reused as in
 *   life. What a webhook node does before it acknowledges.
 * - ingest + relay (reported beside it, no target): the same, with this
 *   process also running the InboxRelay that turns inbox entries into BullMQ
 *   `inbound` jobs, i.e. a single node doing both roles. The relay starts and
 *   drains what the earlier phases left before this phase is measured.
 *
 * Each phase also reports the server process's CPU time per request
 * (`process.cpuUsage()` over the phase / requests served): a figure that
 * other load on the machine disturbs far less than requests per second.
 *
 * Both routes live in one server process (a child, so autocannon does not
 * share its event loop); phases alternate (hello, ingest, hello, ingest) after
 * a warm-up, so a drifting machine hurts both alike. Signatures are computed
 * before the run so the load generator does the same work for both phases.
 * Targets (issue 5): ingest >= 60% of baseline requests/s, p99 <= 1.5x.
 *
 * Run: node -r ./test/support/ts-register.cjs bench/webhook.bench.ts [--duration N] [--connections N] [--rounds N] [--cpu-prof DIR]
 * (uses REDIS_URL if set, else starts a throwaway redis-server from the PATH)
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import autocannon from 'autocannon';
import express from 'express';
import twilio from 'twilio';
import type { ConnectorContext } from '../connectors/connector';
import { createTwilioConnector } from '../connectors/twilio/twilio.connector';
import { redact } from '../src/bot/redact';
import { loadConfig } from '../src/config';
import { ConversationEvents } from '../src/conversation-events';
import { createIngest } from '../src/ingest';
import { BullJobQueue } from '../src/jobs/bullmq.queue';
import { InboxRelay } from '../src/jobs/inbox-relay';
import { silentLogger } from '../src/ops/logger';
import { DeliveryLedger } from '../src/outbound/delivery-ledger';
import { keys } from '../src/store/keys';
import { RedisStore } from '../src/store/redis.store';
import { TextCipher } from '../src/store/text-cipher';
import { join } from 'node:path';
import { startRedisServer } from '../test/support/redis-server';
import { argument, askChild, machineInfo, numberArgument, writeResult, type MachineInfo } from './support';

const PUBLIC_URL = 'https://gw.bench.example';
const ACCOUNT_SID = `AC${'b'.repeat(32)}`;
const AUTH_TOKEN = 'bench-auth-token-0000000000000000';
const FROM = '+14155550100';

export interface WebhookBenchOptions {
  redisUrl?: string;
  /** autocannon connections. Default 50 (the reference load). */
  connections?: number;
  /** Seconds per measured phase segment. Default 10. */
  duration?: number;
  /** Segments per phase, alternated. Default 2. */
  rounds?: number;
  /** Seconds of discarded warm-up (both routes). Default 3. */
  warmup?: number;
}

export interface PhaseFigures {
  requestsPerSecond: number;
  /** Server process CPU (user + system) per request served, in microseconds. */
  serverCpuMicrosPerRequest: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  errors: number;
}

export interface WebhookBenchResult {
  benchmark: 'webhook';
  at: string;
  options: Required<Omit<WebhookBenchOptions, 'redisUrl'>>;
  baseline: PhaseFigures & { what: string };
  connectorOnly: PhaseFigures & { what: string };
  ingest: PhaseFigures & { what: string };
  ingestWithRelay: PhaseFigures & { what: string };
  /** ingestWithRelay / baseline requests per second (no target: a node doing both roles). */
  ingestWithRelayRatio: number;
  /** connectorOnly / baseline requests per second. */
  connectorOnlyRatio: number;
  /** ingest / baseline requests per second. */
  throughputRatio: number;
  /** ingest / baseline p99 latency. */
  p99Ratio: number;
  targets: { throughputRatio: number; p99Ratio: number };
  meetsTargets: boolean;
  machine: MachineInfo;
}

// ---------------------------------------------------------------------------
// The server child: Express with the bare route and the real webhook path.

async function serve(): Promise<void> {
  const redisUrl = process.env.BENCH_REDIS_URL!;
  const logger = silentLogger();
  const cipher = new TextCipher([{ id: 'bench', key: randomBytes(32) }]);
  const store = await RedisStore.connect(redisUrl, { cipher, threadRetentionDays: 1 });
  const jobs = await BullJobQueue.connect(redisUrl, logger, { prefix: 'pgbench:{jobs}' });
  const config = loadConfig({ NODE_ENV: 'test', PUBLIC_URL, TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_AUTH_TOKEN: AUTH_TOKEN, TWILIO_FROM: FROM });
  const ingest = createIngest({ store, jobs, events: new ConversationEvents(), redact, logger });
  const deliveries = new DeliveryLedger(store, logger);
  let relay: InboxRelay | undefined;
  const ctx: ConnectorContext = { config, store, cipher, logger, ingest, outboxStatus: deliveries.report };
  const connector = createTwilioConnector(ctx);
  const verifyOnly = createTwilioConnector({ ...ctx, ingest: async () => ({ duplicate: false }) });

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.get('/hello', (_req, res) => {
    res.send('hello');
  });
  app.use(connector.webhookPath, connector.router());
  app.use(`/noop${verifyOnly.webhookPath}`, verifyOnly.router());
  const server = app.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send?.({ type: 'ready', port: typeof address === 'object' && address ? address.port : 0 });
  });
  server.keepAliveTimeout = 30_000;
  const answer = (id: number, value: unknown) => process.send?.({ type: 'answer', id, value });
  process.on('message', (message: { type: string; id: number }) => {
    if (message.type === 'cpu') {
      answer(message.id, process.cpuUsage());
    } else if (message.type === 'relay-on') {
      relay = new InboxRelay(redisUrl, jobs, logger);
      // Started, then drained: the relay phase measures steady work, not the backlog of earlier phases.
      void relay
        .start()
        .then(async () => {
          while ((await store.redis.xlen(keys.inbox)) > 0) await new Promise((resolve) => setTimeout(resolve, 200));
        })
        .then(() => answer(message.id, true));
    } else if (message.type === 'relay-off') {
      void (relay?.close() ?? Promise.resolve()).then(() => answer(message.id, true));
    } else if (message.type === 'exit') {
      server.close();
      void Promise.allSettled([relay?.close(), jobs.close(), store.close()]).then(() => process.exit(0));
    }
  });
}

// ---------------------------------------------------------------------------
// The load generator.

function signedBodies(count: number, path: string): Array<{ body: string; signature: string }> {
  const url = `${PUBLIC_URL}${path}`;
  const run = randomBytes(4).toString('hex');
  return Array.from({ length: count }, (_, i) => {
    const sid = `SM${run}${String(i).padStart(24, '0')}`;
    const params: Record<string, string> = {
      ToCountry: 'US',
      ToState: 'CA',
      SmsMessageSid: sid,
      NumMedia: '0',
      ToCity: 'SAN FRANCISCO',
      FromZip: '02108',
      SmsSid: sid,
      FromState: 'MA',
      SmsStatus: 'received',
      FromCity: 'BOSTON',
      Body: `Hello, I would like to know the balance of my account and whether the transfer I made yesterday arrived. Message ${i}.`,
      FromCountry: 'US',
      To: FROM,
      MessagingServiceSid: `MG${'c'.repeat(32)}`,
      ToZip: '94105',
      NumSegments: '1',
      MessageSid: sid,
      AccountSid: ACCOUNT_SID,
      From: `+1555${String(i % 1000).padStart(7, '0')}`,
      ApiVersion: '2010-04-01',
    };
    return { body: new URLSearchParams(params).toString(), signature: twilio.getExpectedTwilioSignature(AUTH_TOKEN, url, params) };
  });
}

function figures(result: autocannon.Result, cpuMicros: number): PhaseFigures {
  return {
    requestsPerSecond: result.requests.average,
    serverCpuMicrosPerRequest: Math.round(cpuMicros / Math.max(1, result.requests.total)),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

function combine(parts: PhaseFigures[]): PhaseFigures {
  const sum = (pick: (f: PhaseFigures) => number) => parts.reduce((acc, f) => acc + pick(f), 0);
  return {
    requestsPerSecond: sum((f) => f.requestsPerSecond) / parts.length,
    serverCpuMicrosPerRequest: Math.round(sum((f) => f.serverCpuMicrosPerRequest) / parts.length),
    p50Ms: sum((f) => f.p50Ms) / parts.length,
    p99Ms: sum((f) => f.p99Ms) / parts.length,
    requests: sum((f) => f.requests),
    non2xx: sum((f) => f.non2xx),
    errors: sum((f) => f.errors),
  };
}

async function startServer(redisUrl: string): Promise<{ child: ChildProcess; base: string }> {
  const register = join(__dirname, '..', 'test', 'support', 'ts-register.cjs');
  const child = fork(__filename, ['--serve'], {
    // `--cpu-prof DIR` profiles the server child (where the time under test goes).
    execArgv: [...(__filename.endsWith('.ts') ? ['-r', register] : []), ...(argument('--cpu-prof') ? ['--cpu-prof', '--cpu-prof-dir', argument('--cpu-prof')!] : [])],
    env: { ...process.env, BENCH_REDIS_URL: redisUrl },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message: { port: number }) => resolve(message.port));
    child.once('exit', (code) => reject(new Error(`bench server exited (${code})`)));
  });
  return { child, base: `http://127.0.0.1:${port}` };
}


/**
 * Measures both phases against one server child and returns the figures.
 * @example const result = await run({ redisUrl: process.env.REDIS_URL, duration: 10 });
 */
export async function run(options: WebhookBenchOptions = {}): Promise<WebhookBenchResult> {
  const settings = { connections: options.connections ?? 50, duration: options.duration ?? 10, rounds: options.rounds ?? 2, warmup: options.warmup ?? 3 };
  const redis = options.redisUrl ? undefined : await startRedisServer();
  const redisUrl = options.redisUrl ?? redis!.url;
  const { child, base } = await startServer(redisUrl);
  try {
    // Enough fresh, pre-signed messages for the two ingest phases at up to ~6,000 req/s.
    const count = Math.ceil(2 * (settings.rounds * settings.duration + settings.warmup) * 6000);
    const signedRequest = (path: string) => {
      const bodies = signedBodies(count, path);
      let next = 0;
      return {
        method: 'POST',
        path,
        setupRequest: (request: autocannon.RequestParams) => {
          const signed = bodies[next++ % bodies.length]!;
          return { ...request, headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signed.signature }, body: signed.body };
        },
      };
    };
    const ingestRequest = signedRequest('/webhooks/twilio');
    const noopRequest = signedRequest('/noop/webhooks/twilio');
    const cpu = () => askChild<NodeJS.CpuUsage>(child, { type: 'cpu' });
    /** One autocannon run, with the server's CPU time over it. */
    const load = async (duration: number, target: Partial<autocannon.Options>): Promise<PhaseFigures> => {
      const before = await cpu();
      const result = await autocannon({ url: base, connections: settings.connections, duration, ...target });
      const after = await cpu();
      return figures(result, after.user - before.user + after.system - before.system);
    };
    const hello = (duration: number) => load(duration, { url: `${base}/hello` });
    const connectorOnly = (duration: number) => load(duration, { requests: [noopRequest] });
    const ingest = (duration: number) => load(duration, { requests: [ingestRequest] });
    const ingestWithRelay = async (duration: number) => {
      await askChild(child, { type: 'relay-on' });
      try {
        return await ingest(duration);
      } finally {
        await askChild(child, { type: 'relay-off' });
      }
    };

    await hello(settings.warmup);
    await connectorOnly(settings.warmup);
    await ingest(settings.warmup);
    await ingestWithRelay(settings.warmup);
    const baseline: PhaseFigures[] = [];
    const verifying: PhaseFigures[] = [];
    const measured: PhaseFigures[] = [];
    const relayed: PhaseFigures[] = [];
    for (let round = 0; round < settings.rounds; round++) {
      baseline.push(await hello(settings.duration));
      verifying.push(await connectorOnly(settings.duration));
      measured.push(await ingest(settings.duration));
      relayed.push(await ingestWithRelay(settings.duration));
    }
    const b = combine(baseline);
    const v = combine(verifying);
    const i = combine(measured);
    const r = combine(relayed);
    const throughputRatio = i.requestsPerSecond / b.requestsPerSecond;
    const p99Ratio = i.p99Ms / Math.max(b.p99Ms, 1);
    const targets = { throughputRatio: 0.6, p99Ratio: 1.5 };
    return {
      benchmark: 'webhook',
      at: new Date().toISOString(),
      options: settings,
      baseline: { what: 'GET /hello on bare Express 5', ...b },
      connectorOnly: { what: 'POST /noop/webhooks/twilio: raw body + form + signature check + TwiML; ingest stores nothing', ...v },
      connectorOnlyRatio: v.requestsPerSecond / b.requestsPerSecond,
      ingest: { what: 'POST /webhooks/twilio: signature check + redact + one Lua step (append with dedupe, activity index, inbox entry), Redis', ...i },
      ingestWithRelay: { what: 'the same, with this process also relaying inbox entries into BullMQ inbound jobs (InboxRelay)', ...r },
      ingestWithRelayRatio: r.requestsPerSecond / b.requestsPerSecond,
      throughputRatio,
      p99Ratio,
      targets,
      meetsTargets: throughputRatio >= targets.throughputRatio && p99Ratio <= targets.p99Ratio && i.non2xx === 0 && i.errors === 0,
      machine: machineInfo(),
    };
  } finally {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.send({ type: 'exit' });
    await exited;
    await redis?.stop();
  }
}

async function main(): Promise<void> {
  const result = await run({ redisUrl: process.env.REDIS_URL, connections: numberArgument('--connections'), duration: numberArgument('--duration'), rounds: numberArgument('--rounds') });
  const file = writeResult(`webhook-${result.at.replace(/[:.]/g, '-')}`, __filename, result);
  const { throughputRatio, p99Ratio, connectorOnlyRatio, ingestWithRelayRatio, baseline, connectorOnly, ingest, ingestWithRelay, meetsTargets } = result;
  process.stdout.write(`${JSON.stringify({ throughputRatio, p99Ratio, connectorOnlyRatio, ingestWithRelayRatio, baseline, connectorOnly, ingest, ingestWithRelay, meetsTargets, file }, null, 2)}\n`);
}

if (require.main === module) {
  if (process.argv.includes('--serve')) {
    serve().catch((err: unknown) => {
      process.stderr.write(`bench server failed: ${String(err)}\n`);
      process.exit(1);
    });
  } else {
    main().catch((err: unknown) => {
      process.stderr.write(`webhook bench failed: ${String(err)}\n`);
      process.exit(1);
    });
  }
}
