import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startRedisServer, type RedisServer } from './redis-server';

declare global {
  var __PG_REDIS__: RedisServer | undefined;
}

/**
 * One Redis per test run (unless REDIS_URL is given; tests isolate themselves
 * with random conversation ids), and a warm intent-model cache: training runs
 * once here in plain node (it is ~10x slower inside Jest's VM), and every
 * gateway a test starts loads the cached model.
 */
export default async function globalSetup(): Promise<void> {
  const root = join(__dirname, '..', '..');
  execFileSync(process.execPath, ['-r', './test/support/ts-register.cjs', '-e', "require('./src/bot/intents').IntentClassifier.shared()"], { cwd: root, stdio: 'inherit' });
  if (process.env.REDIS_URL) {
    process.env.TEST_REDIS_URL = process.env.REDIS_URL;
    return;
  }
  const server = await startRedisServer();
  globalThis.__PG_REDIS__ = server;
  process.env.TEST_REDIS_URL = server.url;
}
