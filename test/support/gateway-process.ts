/**
 * A whole gateway in its own process, so a test can kill it with SIGKILL
 * (no shutdown hook runs: what it acknowledged must already be in Redis).
 * Forked with `-r test/support/ts-register.cjs`; GATEWAY_PROCESS_ENV holds
 * the gateway's environment as JSON, GATEWAY_PROCESS_WORKERS=0 turns its
 * workers off. Sends `{ url }` over IPC once it listens.
 */
import { loadConfig } from '../../src/config';
import { startGateway } from '../../src/gateway';
import { silentLogger } from '../../src/ops/logger';

async function run(): Promise<void> {
  const config = loadConfig(JSON.parse(process.env.GATEWAY_PROCESS_ENV ?? '{}') as Record<string, string>);
  const gateway = await startGateway(config, silentLogger(), { port: 0, host: '127.0.0.1', defaultMetrics: false, workers: process.env.GATEWAY_PROCESS_WORKERS !== '0' });
  process.send?.({ url: gateway.url });
}

run().catch((err: unknown) => {
  process.stderr.write(`gateway process failed: ${String(err)}\n`);
  process.exit(1);
});
