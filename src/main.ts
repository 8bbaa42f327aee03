/**
 * The process entry point (`npm start`, `pivot-gateway start`):
 * loadConfig → build the gateway → listen → graceful shutdown.
 *
 * Exit codes: 0 after a clean shutdown, 2 for bad configuration (one line
 * naming each bad variable), 1 when start-up fails otherwise (e.g. Redis is
 * unreachable).
 */
import { ConfigError, loadConfig, readEnvironment, type Config } from './config';
import { startGateway } from './gateway';
import { createLogger } from './ops/logger';

/** Longest a shutdown may take before the process exits anyway. */
const SHUTDOWN_DEADLINE_MS = 10_000;

export async function runServer(env: Record<string, string | undefined> = readEnvironment()): Promise<number> {
  const configProblem = (err: unknown): number | undefined => {
    if (!(err instanceof ConfigError)) return undefined;
    for (const problem of err.problems) process.stderr.write(`pivot-gateway: configuration error: ${problem}\n`);
    return 2;
  };
  let config: Readonly<Config>;
  try {
    config = loadConfig(env);
  } catch (err) {
    const code = configProblem(err);
    if (code === undefined) throw err;
    return code;
  }
  const logger = createLogger({ level: config.logLevel, pretty: config.env !== 'production' && process.stdout.isTTY === true });

  let gateway: Awaited<ReturnType<typeof startGateway>>;
  try {
    gateway = await startGateway(config, logger);
  } catch (err) {
    // Some settings are only checked as they are used (a JWK Set's keys, the Bot Framework pair): still a configuration error.
    const code = configProblem(err);
    if (code !== undefined) return code;
    logger.fatal({ err }, 'start-up failed');
    process.stderr.write(`pivot-gateway: start-up failed: ${(err as Error).message}\n`);
    return 1;
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      const deadline = setTimeout(() => {
        logger.error('shutdown deadline passed; exiting');
        resolve(1);
      }, SHUTDOWN_DEADLINE_MS);
      deadline.unref();
      gateway
        .close()
        .then(() => {
          clearTimeout(deadline);
          logger.info('stopped');
          logger.flush();
          resolve(0);
        })
        .catch((err: unknown) => {
          clearTimeout(deadline);
          logger.error({ err }, 'shutdown failed');
          resolve(1);
        });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

if (require.main === module) {
  runServer().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`pivot-gateway: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
