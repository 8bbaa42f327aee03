/**
 * A real gateway for a test: `startGateway` on port 0 with the given
 * environment, on the test run's Redis unless `memory: true`.
 */
import { loadConfig } from '../../src/config';
import { startGateway, type Gateway } from '../../src/gateway';
import { silentLogger } from '../../src/ops/logger';

export async function startTestGateway(env: Record<string, string> = {}, options: { memory?: boolean; workers?: boolean } = {}): Promise<Gateway> {
  const config = loadConfig({
    NODE_ENV: 'test',
    PUBLIC_URL: 'http://127.0.0.1:3999',
    ...(options.memory ? {} : { REDIS_URL: process.env.TEST_REDIS_URL! }),
    ...env,
  });
  return startGateway(config, silentLogger(), { port: 0, host: '127.0.0.1', defaultMetrics: false, workers: options.workers });
}
