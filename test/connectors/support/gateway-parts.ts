/**
 * Real parts for connector tests: a Redis store on the run's test Redis, a
 * minimal `ingest` built on it (open conversation + append with the platform
 * id as dedupe key, the contract the lead's `src/ingest.ts` honours), a
 * DeliveryLedger, and an Express app with only the connector routers mounted,
 * as the gateway mounts them (before any body parser).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { Connector, ConnectorContext } from '../../../connectors/connector';
import { loadConfig, type Config } from '../../../src/config';
import type { InboundMessage, Message, PublicChannel } from '../../../src/messages';
import { silentLogger } from '../../../src/ops/logger';
import { DeliveryLedger } from '../../../src/outbound/delivery-ledger';
import { keys } from '../../../src/store/keys';
import { RedisStore } from '../../../src/store/redis.store';
import type { Store } from '../../../src/store/store';
import { TextCipher } from '../../../src/store/text-cipher';

export const TEST_SECRETS = {
  MESSENGER_APP_SECRET: 'messenger-app-secret-for-tests',
  MESSENGER_VERIFY_TOKEN: 'messenger-verify-token',
  MESSENGER_PAGE_ACCESS_TOKEN: 'EAAG-messenger-page-token',
  WHATSAPP_APP_SECRET: 'whatsapp-app-secret-for-tests',
  WHATSAPP_VERIFY_TOKEN: 'whatsapp-verify-token',
  WHATSAPP_ACCESS_TOKEN: 'EAAG-whatsapp-access-token',
  WHATSAPP_PHONE_NUMBER_ID: '106540352242922',
  TWILIO_ACCOUNT_SID: 'ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  TWILIO_AUTH_TOKEN: 'twilio-auth-token-for-tests-0001',
  TWILIO_FROM: '+14155550100',
};

export function testConfig(env: Record<string, string | undefined> = {}): Readonly<Config> {
  return loadConfig({ NODE_ENV: 'test', PUBLIC_URL: 'https://gw.example', ...TEST_SECRETS, ...env });
}

export function testCipher(): TextCipher {
  return new TextCipher([{ id: 'test', key: randomBytes(32) }]);
}

export async function redisStore(cipher: TextCipher): Promise<RedisStore> {
  const url = process.env.TEST_REDIS_URL;
  if (!url) throw new Error('TEST_REDIS_URL is not set: run through jest (test/support/global-setup.ts)');
  return RedisStore.connect(url, { cipher, threadRetentionDays: 1 });
}

/** The ingest contract in its smallest honest form: the real store, atomic dedupe by platform id. */
export function storeIngest(store: Store): ConnectorContext['ingest'] {
  return async (inbound: InboundMessage) => {
    const { conversation } = await store.openConversation(inbound.channel, inbound.externalUserId);
    const { duplicate } = await store.appendMessage(
      conversation.id,
      { author: 'customer', channel: inbound.channel, text: inbound.text },
      { dedupeKey: `${inbound.channel}:${inbound.platformMessageId}` },
    );
    return { duplicate };
  };
}

export interface Parts {
  config: Readonly<Config>;
  store: Store;
  cipher: TextCipher;
  deliveries: DeliveryLedger;
  ctx: ConnectorContext;
}

export async function buildParts(env: Record<string, string | undefined> = {}, store?: Store, cipher = testCipher()): Promise<Parts> {
  const config = testConfig(env);
  const theStore = store ?? (await redisStore(cipher));
  const logger = silentLogger();
  const deliveries = new DeliveryLedger(theStore, logger);
  const ctx: ConnectorContext = { config, store: theStore, cipher, logger, ingest: storeIngest(theStore), outboxStatus: deliveries.report };
  return { config, store: theStore, cipher, deliveries, ctx };
}

export interface App {
  url: string;
  close(): Promise<void>;
}

/** Mounts each connector's router at its path on a bare Express app on port 0. */
export async function startApp(connectors: Connector[]): Promise<App> {
  const app = express();
  for (const connector of connectors) if (connector.webhookPath) app.use(connector.webhookPath, connector.router());
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // keep-alive sockets of fetch and open event streams
      }),
  };
}

/** The thread of one platform user, or [] when no conversation was ever opened (nothing stored). */
export async function threadOf(store: Store, channel: PublicChannel, externalUserId: string): Promise<Message[]> {
  const id = await store.get(keys.userConversation(channel, externalUserId));
  if (!id) return [];
  return (await store.readMessagesAfter(id, undefined, 200)).messages;
}

/** Ids that no other test (or earlier run on a shared Redis) uses. */
export function uniqueDigits(length: number): string {
  let out = '';
  while (out.length < length) out += String(parseInt(randomUUID().replace(/-/g, '').slice(0, 12), 16));
  return out.slice(0, length);
}
