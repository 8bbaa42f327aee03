import { startRedisServer, type RedisServer } from './redis-server';

declare global {
  var __PG_REDIS__: RedisServer | undefined;
}

/** One Redis per test run (unless REDIS_URL is given); tests isolate themselves by key prefix or FLUSHDB on their own db. */
export default async function globalSetup(): Promise<void> {
  if (process.env.REDIS_URL) {
    process.env.TEST_REDIS_URL = process.env.REDIS_URL;
    return;
  }
  const server = await startRedisServer();
  globalThis.__PG_REDIS__ = server;
  process.env.TEST_REDIS_URL = server.url;
}
