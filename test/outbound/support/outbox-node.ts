/**
 * One gateway node's outbound worker in its own process, for the kill -9
 * test (test/outbound/outbox.durability.test.ts): the real RedisStore, the
 * real BullMQ queue, the real Twilio connector (pointed at the parent's
 * stand-in through TWILIO_API_URL) and the real Outbox. It sends 'ready' and
 * then works until the parent kills it. OUTBOX_NODE_LEASE_SECONDS shortens
 * the claim its sends leave behind when killed (default: the Outbox's 120 s).
 */
import type { Connector } from '../../../connectors/connector';
import { createTwilioConnector } from '../../../connectors/twilio/twilio.connector';
import { loadConfig } from '../../../src/config';
import { BullJobQueue } from '../../../src/jobs/bullmq.queue';
import type { PublicChannel } from '../../../src/messages';
import { silentLogger } from '../../../src/ops/logger';
import { DeliveryLedger } from '../../../src/outbound/delivery-ledger';
import { Outbox } from '../../../src/outbound/outbox';
import { RedisStore } from '../../../src/store/redis.store';
import { TextCipher } from '../../../src/store/text-cipher';

async function run(): Promise<void> {
  const env = process.env;
  const logger = silentLogger();
  const cipher = new TextCipher([{ id: 'test', key: Buffer.from(env.OUTBOX_NODE_KEY!, 'base64') }]);
  const store = await RedisStore.connect(env.OUTBOX_NODE_REDIS_URL!, { cipher, threadRetentionDays: 1 });
  const config = loadConfig({ NODE_ENV: 'test', PUBLIC_URL: 'https://gw.example', TWILIO_ACCOUNT_SID: env.OUTBOX_NODE_SID!, TWILIO_AUTH_TOKEN: env.OUTBOX_NODE_TOKEN!, TWILIO_FROM: '+14155550100', TWILIO_API_URL: env.OUTBOX_NODE_API_URL! });
  const deliveries = new DeliveryLedger(store, logger);
  const twilio = createTwilioConnector({ config, store, cipher, logger, ingest: async () => ({ duplicate: false }), outboxStatus: deliveries.report });
  const queue = await BullJobQueue.connect(env.OUTBOX_NODE_REDIS_URL!, logger, { prefix: env.OUTBOX_NODE_PREFIX!, lockDurationMs: 1000, stalledIntervalMs: 300 });
  const lease = env.OUTBOX_NODE_LEASE_SECONDS === undefined ? {} : { sendingLeaseSeconds: Number(env.OUTBOX_NODE_LEASE_SECONDS) };
  const outbox = new Outbox({ queue, store, cipher, connectors: new Map<PublicChannel, Connector>([['sms', twilio]]), deliveries, logger, ...lease });
  outbox.register();
  await queue.start();
  process.send?.({ type: 'ready' });
}

run().catch((err: unknown) => {
  process.stderr.write(`outbox node failed: ${String(err)}\n`);
  process.exit(1);
});
