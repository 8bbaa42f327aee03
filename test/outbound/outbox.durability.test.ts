/**
 * Durability of outbound sends on BullMQ, with "nodes" that die:
 *
 * 1. The node that acknowledged the webhook (and queued the reply) stops
 *    before any worker ran the job: another node sends it, once.
 * 2. A worker node is killed with SIGKILL while the send waits for its retry
 *    (first try got a 500): another node makes the retry; the platform gets
 *    exactly one accepted message.
 * 3. A worker node is killed with SIGKILL during the platform call, leaving
 *    its claim (lease) on the message: the re-run waits for the lease without
 *    using up a try, then sends (issue 5: it used to burn every try against
 *    the lease and leave the message `queued` for ever).
 * 4. Killed during the platform call twice: BullMQ gives the job up without
 *    another run, and the message shows `failed`, not `queued`.
 *
 * Nodes are separate BullJobQueue/Outbox instances on the run's Redis, and in
 * (2)-(4) real child processes killed with SIGKILL (test/outbound/support/outbox-node.ts).
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Connector } from '../../connectors/connector';
import { createTwilioConnector } from '../../connectors/twilio/twilio.connector';
import { bullJobId, BullJobQueue } from '../../src/jobs/bullmq.queue';
import type { PublicChannel } from '../../src/messages';
import { silentLogger } from '../../src/ops/logger';
import { Outbox } from '../../src/outbound/outbox';
import { TextCipher } from '../../src/store/text-cipher';
import { fixture } from '../connectors/support/fixtures';
import { buildParts, redisStore, TEST_SECRETS, uniqueDigits, type Parts } from '../connectors/support/gateway-parts';
import { PlatformStandIn, type RecordedRequest } from '../connectors/support/platform-stand-in';
import { eventually, redisUrl, uniquePrefix } from '../jobs/support/bull';
import { botMessage, deliveryOf } from './support';

const accepted = (request: RecordedRequest) => ({ status: 201, body: { ...fixture('twilio/message-created.json'), sid: `SM${uniqueDigits(32)}`, to: new URLSearchParams(request.body).get('To') } });

interface NodeOptions {
  workers: boolean;
  /** Tries per message, set when the message is queued. Default 3. */
  attempts?: number;
  sendingLeaseSeconds?: number;
}

async function node(parts: Parts, platform: { url: string }, prefix: string, options: NodeOptions): Promise<{ queue: BullJobQueue; outbox: Outbox }> {
  const queue = await BullJobQueue.connect(redisUrl(), silentLogger(), { prefix, lockDurationMs: 1000, stalledIntervalMs: 300 });
  const config = { ...parts.config, twilioApiUrl: platform.url };
  const twilio = createTwilioConnector({ ...parts.ctx, config });
  const lease = options.sendingLeaseSeconds === undefined ? {} : { sendingLeaseSeconds: options.sendingLeaseSeconds };
  const outbox = new Outbox({ queue, store: parts.store, cipher: parts.cipher, connectors: new Map<PublicChannel, Connector>([['sms', twilio]]), deliveries: parts.deliveries, logger: silentLogger(), attempts: options.attempts ?? 3, backoffMs: 1500, ...lease });
  if (options.workers) {
    outbox.register();
    await queue.start();
  }
  return { queue, outbox };
}

/** A worker node in its own process (test/outbound/support/outbox-node.ts), ready to take jobs. */
async function workerProcess(prefix: string, key: Buffer, platformUrl: string, env: Record<string, string> = {}): Promise<{ kill: () => Promise<void> }> {
  const child = fork(join(__dirname, 'support', 'outbox-node.ts'), [], {
    execArgv: ['-r', join(__dirname, '..', 'support', 'ts-register.cjs')],
    env: {
      ...process.env,
      OUTBOX_NODE_REDIS_URL: redisUrl(),
      OUTBOX_NODE_PREFIX: prefix,
      OUTBOX_NODE_KEY: key.toString('base64'),
      OUTBOX_NODE_API_URL: platformUrl,
      OUTBOX_NODE_SID: TEST_SECRETS.TWILIO_ACCOUNT_SID,
      OUTBOX_NODE_TOKEN: TEST_SECRETS.TWILIO_AUTH_TOKEN,
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve) => child.once('message', () => resolve()));
  return {
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Parts on a store whose cipher key a child process can share. */
async function sharedParts(): Promise<{ parts: Parts; key: Buffer }> {
  const key = Buffer.alloc(32, 7);
  const cipher = new TextCipher([{ id: 'test', key }]);
  return { parts: await buildParts({}, await redisStore(cipher), cipher), key };
}

describe('outbound durability (BullMQ)', () => {
  let standIn: PlatformStandIn;
  let raw: Redis;

  beforeAll(async () => {
    standIn = await new PlatformStandIn(accepted).start();
    raw = new Redis(redisUrl());
  });
  afterAll(async () => {
    await standIn.stop();
    raw.disconnect();
  });
  beforeEach(() => {
    standIn.requests.length = 0;
    standIn.respondWith(accepted);
  });

  it('queued by a node that stops before its worker ran: another node sends it exactly once; the job holds no text and no clear link', async () => {
    const prefix = uniquePrefix();
    const parts = await buildParts();
    const phone = `+1555${uniqueDigits(7)}`;
    const reason = 'To see your balance, continue in our secure chat.';
    const url = `https://gw.example/secure/#t=${randomUUID()}`;
    const { message } = await botMessage(parts, 'sms', phone, reason);

    const webhookNode = await node(parts, standIn, prefix, { workers: false });
    await webhookNode.outbox.sendInvite(message.conversationId, message.id, url);
    const stored = await raw.hget(`${prefix}:outbound:${bullJobId(`out_${message.conversationId}_${message.id}`)}`, 'data');
    expect(stored).toContain(message.id);
    expect(stored).not.toContain(url);
    expect(stored).not.toContain('balance');
    await webhookNode.queue.close(); // dies before any worker touched the job

    const other = await node(parts, standIn, prefix, { workers: true });
    await eventually(async () => (await other.queue.counts('outbound')).completed === 1);
    expect(standIn.requests).toHaveLength(1);
    expect(new URLSearchParams(standIn.requests[0]!.body).get('Body')).toBe(`${reason}\nContinue securely: ${url}`);
    expect(await deliveryOf(parts, message)).toMatchObject({ status: 'sent' });
    await other.queue.close();
    await parts.store.close();
  });

  it('a worker killed (SIGKILL) while its send waits for a retry: another node retries, one message goes out', async () => {
    const prefix = uniquePrefix();
    const { parts, key } = await sharedParts();
    const { message } = await botMessage(parts, 'sms', `+1555${uniqueDigits(7)}`, 'interrupted');
    standIn.respondWith((request, index) => (index === 0 ? { status: 500, body: { code: 20500, message: 'Internal Server Error', status: 500 } } : accepted(request)));

    const child = await workerProcess(prefix, key, standIn.url);
    const producer = await node(parts, standIn, prefix, { workers: false });
    await producer.outbox.sendText(message.conversationId, message.id);
    // The child's first try hits the 500; the job now waits (delayed) for its retry in Redis.
    await eventually(async () => standIn.requests.length === 1 && (await producer.queue.counts('outbound')).delayed === 1);
    await child.kill();
    expect(await deliveryOf(parts, message)).toMatchObject({ status: 'queued', error: expect.stringContaining('attempt 1 failed: twilio 500') });

    const survivor = await node(parts, standIn, prefix, { workers: true });
    await eventually(async () => (await survivor.queue.counts('outbound')).completed === 1);
    expect(standIn.requests).toHaveLength(2); // the 500, then the one accepted message
    expect(await deliveryOf(parts, message)).toMatchObject({ status: 'sent' });
    await survivor.queue.close();
    await producer.queue.close();
    await parts.store.close();
  });

  it('a worker killed (SIGKILL) during the platform call: the re-run waits out its lease without using a try, then sends', async () => {
    const prefix = uniquePrefix();
    const { parts, key } = await sharedParts();
    const { message } = await botMessage(parts, 'sms', `+1555${uniqueDigits(7)}`, 'killed mid-send');
    const platform = await new PlatformStandIn((request, index) => (index === 0 ? undefined : accepted(request))).start(); // the dead worker's call never returns
    try {
      const child = await workerProcess(prefix, key, platform.url, { OUTBOX_NODE_LEASE_SECONDS: '3' });
      // One try only: before the fix, the re-run spent it against the dead worker's lease and the message stayed queued.
      const producer = await node(parts, platform, prefix, { workers: false, attempts: 1 });
      await producer.outbox.sendText(message.conversationId, message.id);
      await eventually(() => platform.requests.length === 1);
      await child.kill();
      expect(await deliveryOf(parts, message)).toMatchObject({ status: 'queued' });

      // The survivor's stalled check gives the job back; its run finds the live lease and waits for it.
      const survivor = await node(parts, platform, prefix, { workers: true, sendingLeaseSeconds: 3 });
      await eventually(async () => {
        const counts = await survivor.queue.counts('outbound');
        return (counts.completed ?? 0) + (counts.failed ?? 0) === 1;
      });
      expect(await survivor.queue.counts('outbound')).toMatchObject({ completed: 1, failed: 0, delayed: 0 });
      expect(platform.requests).toHaveLength(2); // the call the kill cut off, then the one that was answered
      expect(new URLSearchParams(platform.requests[1]!.body).get('Body')).toBe('killed mid-send');
      const delivery = await deliveryOf(parts, message);
      expect(delivery?.status).toBe('sent');
      expect(delivery?.error).toBeUndefined();
      await survivor.queue.close();
      await producer.queue.close();
    } finally {
      await platform.stop();
      await parts.store.close();
    }
  });

  it('killed during the platform call twice: BullMQ gives the job up, and the message shows failed with why, not queued', async () => {
    const prefix = uniquePrefix();
    const { parts, key } = await sharedParts();
    const { message } = await botMessage(parts, 'sms', `+1555${uniqueDigits(7)}`, 'killed twice');
    const platform = await new PlatformStandIn(() => undefined).start();
    try {
      const producer = await node(parts, platform, prefix, { workers: false });
      await producer.outbox.sendText(message.conversationId, message.id);
      for (let kill = 1; kill <= 2; kill++) {
        const child = await workerProcess(prefix, key, platform.url, { OUTBOX_NODE_LEASE_SECONDS: '1' });
        await eventually(() => platform.requests.length === kill);
        await child.kill();
      }
      expect(await deliveryOf(parts, message)).toMatchObject({ status: 'queued' });

      const survivor = await node(parts, platform, prefix, { workers: true, sendingLeaseSeconds: 1 });
      await eventually(async () => (await survivor.queue.counts('outbound')).failed === 1 && (await deliveryOf(parts, message))?.status === 'failed');
      expect(await deliveryOf(parts, message)).toMatchObject({ status: 'failed', error: 'not sent, gave up: its worker stopped mid-run more than once (job stalled more than allowable limit)' });
      expect(platform.requests).toHaveLength(2);
      await survivor.queue.close();
      await producer.queue.close();
    } finally {
      await platform.stop();
      await parts.store.close();
    }
  });
});
